/** Emulator-only routes (not Twilio's): read delivered codes, move the clock, health. */
import type { FastifyPluginAsync } from 'fastify';
import type { EmulatorClock } from '../clock.ts';
import type { Outbox } from '../outbox.ts';

export interface EmulatorRoutesOptions {
  outbox: Outbox;
  clock: EmulatorClock;
}

/** An unencoded `+` in a query string arrives as a space; callers should not have to care. */
const normaliseRecipient = (to: string): string => (to.startsWith(' ') ? `+${to.trimStart()}` : to);

export const emulatorRoutes: FastifyPluginAsync<EmulatorRoutesOptions> = async (app, { outbox, clock }) => {
  app.get('/health', async () => ({ status: 'ok' }));

  app.get<{ Querystring: { to?: string } }>(
    '/outbox',
    { schema: { querystring: { type: 'object', properties: { to: { type: 'string' } } } } },
    async (request) => {
      const { to } = request.query;
      return { messages: outbox.list(to === undefined ? undefined : normaliseRecipient(to)) };
    },
  );

  app.delete('/outbox', async (_request, reply) => {
    outbox.clear();
    return reply.code(204).send();
  });

  app.post<{ Body: { seconds: number } }>(
    '/_emulator/clock/advance',
    {
      schema: {
        body: { type: 'object', required: ['seconds'], properties: { seconds: { type: 'number', minimum: 0 } } },
      },
    },
    async (request) => ({ now: new Date(clock.advance(request.body.seconds)).toISOString() }),
  );
};
