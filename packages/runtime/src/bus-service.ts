import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { AppError } from '@repo/contracts';
import type { Bus, EndpointHandler } from '@repo/bus';
import { instrumentHttp, type MetricsSetup } from '@repo/telemetry';

export interface BusServiceOptions {
  name: string;
  version?: string;
  bus: Bus;
  logger?: FastifyBaseLogger;
  /** Registered on the bus once the app is ready; on close, drained and waited for. */
  handlers: EndpointHandler[];
  /** More dependencies `/ready` must reach (a store's ping, say); the bus is always checked. */
  readiness?: Array<() => Promise<void>>;
  /** HTTP request durations and GET /metrics; none without it. */
  metrics?: MetricsSetup;
}

/** `/ready` answers within a second, whatever a dependency does. */
const READY_CHECK_TIMEOUT_MS = 900;

function withinReadyTimeout(check: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    check,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AppError('SERVICE_UNAVAILABLE', 'A dependency did not answer in time')), READY_CHECK_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * The shape every backend service shares: its work arrives over the bus, and its HTTP side only
 * answers health checks (and /metrics), in our error shape. The bus is given, not owned, so the embedded runner
 * can share one.
 */
export function buildBusService(opts: BusServiceOptions): FastifyInstance {
  const app = Fastify(opts.logger ? { loggerInstance: opts.logger } : { logger: false });
  if (opts.metrics) instrumentHttp(app, { ...opts.metrics, service: opts.name });

  app.setErrorHandler((err, request, reply) => {
    const known = err instanceof AppError ? err : undefined;
    if (!known) request.log.error({ err }, 'request failed');
    const error = known ?? new AppError('INTERNAL');
    if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter));
    return reply.status(error.statusCode).send(error.toBody());
  });
  app.setNotFoundHandler((_request, reply) => reply.status(404).send(new AppError('NOT_FOUND').toBody()));

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (request) => {
    const checks = [opts.bus.ping(), ...(opts.readiness ?? []).map((check) => check())];
    const results = await Promise.allSettled(checks.map(withinReadyTimeout));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      const reason: unknown = failed.reason;
      request.log.warn({ err: reason }, 'not ready');
      const why = reason instanceof Error ? reason.message : String(reason);
      throw new AppError('SERVICE_UNAVAILABLE', `Not ready: ${why}`, { retryAfter: 1 });
    }
    return { status: 'ready' };
  });

  let service: { stop(): Promise<void> } | undefined;
  app.addHook('onReady', async () => {
    service = await opts.bus.serve({ name: opts.name, version: opts.version ?? '1.0.0', log: app.log }, opts.handlers);
  });
  app.addHook('onClose', async () => {
    await service?.stop();
  });
  return app;
}
