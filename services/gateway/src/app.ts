import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';
import type { Bus } from '@repo/bus';
import type { SessionStore } from '@repo/stores';
import type { GatewaySettings } from './config.ts';
import authenticate from './plugins/app/authenticate.ts';
import errorHandler from './plugins/app/error-handler.ts';
import rateLimit from './plugins/external/rate-limit.ts';
import { trustProxyOption } from './trust-proxy.ts';
import swagger from './plugins/external/swagger.ts';
import authRoutes from './routes/auth/index.ts';
import healthRoutes from './routes/health/index.ts';
import plaidRoutes from './routes/plaid/index.ts';

declare module 'fastify' {
  interface FastifyInstance {
    bus: Bus;
    sessions: SessionStore;
    gatewaySettings: GatewaySettings;
  }
}

export interface GatewayDeps {
  settings: GatewaySettings;
  bus: Bus;
  /** Read for revocations on every protected request. */
  sessions: SessionStore;
  /** Shares rate-limit counters between gateway replicas; omitted, counters are per process. */
  redis?: Redis;
  logger?: FastifyBaseLogger;
}

/** The HTTP gateway: verifies tokens itself, everything else goes to the services over the bus. */
export async function buildGateway(deps: GatewayDeps) {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    trustProxy: trustProxyOption(deps.settings.TRUST_PROXY),
    bodyLimit: 64 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('bus', deps.bus);
  app.decorate('sessions', deps.sessions);
  app.decorate('gatewaySettings', deps.settings);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(errorHandler);
  await app.register(swagger);
  await app.register(rateLimit, { perIpPerMinute: deps.settings.RATE_LIMIT_PER_IP_PER_MINUTE, redis: deps.redis });
  await app.register(authenticate, {
    secret: deps.settings.JWT_SECRET,
    issuer: deps.settings.JWT_ISSUER,
    audience: deps.settings.JWT_AUDIENCE,
    sessions: deps.sessions,
  });

  await app.register(healthRoutes);
  await app.register(authRoutes, { prefix: '/api/auth' });
  await app.register(plaidRoutes, { prefix: '/api/plaid' });
  return app;
}

export { GatewayEnv, type GatewaySettings } from './config.ts';
