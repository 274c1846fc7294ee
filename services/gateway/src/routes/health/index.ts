import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError } from '@repo/contracts';

const Checks = Type.Object({ nats: Type.String(), redis: Type.String() });

/** Liveness (the process answers) and readiness (NATS and the session store answer). */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', { config: { rateLimit: false }, schema: { tags: ['health'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/ready',
    { config: { rateLimit: false }, schema: { tags: ['health'], response: { 200: Type.Object({ status: Type.Literal('ready'), checks: Checks }) } } },
    async (request) => {
      const [nats, redis] = await Promise.allSettled([app.bus.ping(), app.sessions.ping()]);
      const checks = { nats: nats.status === 'fulfilled' ? 'ok' : 'down', redis: redis.status === 'fulfilled' ? 'ok' : 'down' };
      if (checks.nats !== 'ok' || checks.redis !== 'ok') {
        request.log.warn({ checks }, 'not ready');
        throw new AppError('SERVICE_UNAVAILABLE', `Not ready: NATS ${checks.nats}, Redis ${checks.redis}`);
      }
      return { status: 'ready' as const, checks };
    },
  );
};

export default healthRoutes;
