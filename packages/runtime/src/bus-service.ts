import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Bus, EndpointHandler } from '@repo/bus';

export interface BusServiceOptions {
  name: string;
  version?: string;
  bus: Bus;
  logger?: FastifyBaseLogger;
  /** Registered on the bus once the app is ready, removed when it closes. */
  handlers: EndpointHandler[];
  /** More dependencies `/ready` must reach (a store's ping, say); the bus is always checked. */
  readiness?: Array<() => Promise<void>>;
}

/**
 * The shape every backend service shares: its work arrives over the bus, and its HTTP side only
 * answers health checks. The bus is given, not owned, so the embedded runner can share one.
 */
export function buildBusService(opts: BusServiceOptions): FastifyInstance {
  const app = Fastify(opts.logger ? { loggerInstance: opts.logger } : { logger: false });

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async () => {
    await Promise.all([opts.bus.ping(), ...(opts.readiness ?? []).map((check) => check())]);
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
