import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError } from '@repo/contracts';
import { errorResponses } from '../../http/api-doc.ts';

const Checks = Type.Object({ nats: Type.String({ examples: ['ok'] }), redis: Type.String({ examples: ['ok'] }) });

/** `/ready` answers within a second, whatever a dependency does (a frozen NATS, say). */
const READY_CHECK_TIMEOUT_MS = 900;

async function check(probe: () => Promise<void>): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'down'>((resolve) => {
    timer = setTimeout(() => resolve('down'), READY_CHECK_TIMEOUT_MS);
  });
  const answered = probe().then(
    () => 'ok' as const,
    () => 'down' as const,
  );
  try {
    return await Promise.race([answered, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Liveness (the process answers) and readiness (NATS and the session store answer, and the
 * process is not shutting down: the bus's ping fails from SIGTERM on, while requests still work).
 */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    {
      config: { rateLimit: false },
      schema: { tags: ['health'], operationId: 'getHealth', summary: 'Liveness: the process answers', security: [], response: { 200: Type.Object({ status: Type.Literal('ok') }), ...errorResponses(['INTERNAL']) } },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['health'],
        operationId: 'getReadiness',
        summary: 'Readiness: NATS and the session store answer, and the process is not shutting down',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ready'), checks: Checks }), ...errorResponses(['INTERNAL', 'SERVICE_UNAVAILABLE']) },
      },
    },
    async (request) => {
      const [nats, redis] = await Promise.all([check(() => app.bus.ping()), check(() => app.sessions.ping())]);
      const checks = { nats, redis };
      if (nats !== 'ok' || redis !== 'ok') {
        request.log.warn({ checks }, 'not ready');
        throw new AppError('SERVICE_UNAVAILABLE', `Not ready: NATS ${nats}, Redis ${redis}`, { retryAfter: 1 });
      }
      return { status: 'ready' as const, checks };
    },
  );
};

export default healthRoutes;
