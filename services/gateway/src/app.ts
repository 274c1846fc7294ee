import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';
import type { Bus } from '@repo/bus';
import type { SessionReader } from '@repo/stores';
import type { MetricsSetup } from '@repo/telemetry';
import { demoPageEnabled, type GatewaySettings } from './config.ts';
import { buildValidator } from './http/body-validator.ts';
import { buildSerializer } from './http/response-serializer.ts';
import { coalesceWrites } from './http/coalesce-writes.ts';
import { requestIdOf } from './http/request-id.ts';
import { childLoggerFactory, requestLogger } from './http/request-log.ts';
import authenticate from './plugins/app/authenticate.ts';
import errorHandler, { onClientError, onFrameworkError } from './plugins/app/error-handler.ts';
import cors from './plugins/external/cors.ts';
import { gatewayTelemetry } from './plugins/external/metrics.ts';
import rateLimit from './plugins/external/rate-limit.ts';
import { corsOrigins } from './cors.ts';
import { trustProxyOption } from './trust-proxy.ts';
import swagger from './plugins/external/swagger.ts';
import authRoutes from './routes/auth/index.ts';
import demoRoutes from './routes/demo/index.ts';
import healthRoutes from './routes/health/index.ts';
import plaidRoutes from './routes/plaid/index.ts';
import wellKnownRoutes from './routes/well-known/index.ts';

declare module 'fastify' {
  interface FastifyInstance {
    bus: Bus;
    sessions: SessionReader;
    gatewaySettings: GatewaySettings;
  }
}

export interface GatewayDeps {
  settings: GatewaySettings;
  bus: Bus;
  /** Asked on every protected request; in production a RedisSessionMirror (no round trip per request). */
  sessions: SessionReader;
  /** Shares rate-limit counters between gateway replicas; omitted, counters are per process. */
  redis?: Redis;
  logger?: FastifyBaseLogger;
  /** The Twilio Verify emulator's outbox URL when it is in use (embedded): the demo page shows the codes. */
  twilioOutboxUrl?: string;
  /** Request durations, rate-limit rejections, the session mirror's state; GET /metrics when exposed. */
  metrics?: MetricsSetup;
}

/** The HTTP gateway: verifies tokens itself, everything else goes to the services over the bus. */
export async function buildGateway(deps: GatewayDeps) {
  const origins = corsOrigins(deps.settings.CORS_ORIGINS);
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // The client's x-request-id only when it is short and safe (see requestIdOf).
    requestIdHeader: false,
    genReqId: requestIdOf,
    childLoggerFactory,
    // One line per request (requestLogger below), not Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: trustProxyOption(deps.settings.TRUST_PROXY),
    bodyLimit: 64 * 1024,
    schemaController: { compilersFactory: { buildValidator, buildSerializer } },
    // Every answer in our error shape, down to the protocol level and the shutdown.
    clientErrorHandler: onClientError,
    frameworkErrors: onFrameworkError,
    return503OnClosing: false,
    // Node would answer a missing Host with an empty 400; the error handler answers it instead.
    http: { requireHostHeader: false },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // A turn's responses leave together at its end (see coalesceWrites).
  coalesceWrites(app.server);
  // Before any route: each one gets its metrics hook as it is added.
  const onRateLimited = gatewayTelemetry(app, deps.metrics, deps.sessions);

  app.decorate('bus', deps.bus);
  app.decorate('sessions', deps.sessions);
  app.decorate('gatewaySettings', deps.settings);
  // x-request-id is set by the error handler's onRequest hook, the first of every request.
  // Callback-style hooks: no promise per request on the hot path.
  app.addHook('onResponse', requestLogger(app.log));

  await app.register(errorHandler);
  await app.register(swagger);
  if (origins.length > 0) await app.register(cors, { origins });
  await app.register(rateLimit, { perIpPerMinute: deps.settings.RATE_LIMIT_PER_IP_PER_MINUTE, redis: deps.redis, onRejected: onRateLimited });
  await app.register(authenticate, {
    bus: deps.bus,
    sessions: deps.sessions,
    issuer: deps.settings.JWT_ISSUER,
    audience: deps.settings.JWT_AUDIENCE,
    clockToleranceSeconds: deps.settings.JWT_CLOCK_TOLERANCE_SECONDS,
  });

  await app.register(healthRoutes);
  await app.register(authRoutes, { prefix: '/api/auth' });
  await app.register(plaidRoutes, { prefix: '/api/plaid' });
  await app.register(wellKnownRoutes, { prefix: '/.well-known' });
  if (demoPageEnabled(deps.settings)) await app.register(demoRoutes, { prefix: '/demo', outboxUrl: deps.twilioOutboxUrl });
  return app;
}

export { GatewayEnv, demoPageEnabled, type GatewaySettings } from './config.ts';
