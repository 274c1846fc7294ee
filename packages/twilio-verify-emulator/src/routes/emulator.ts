/** Emulator-only routes (not Twilio's): read delivered codes, move the clock, health. */
import type { FastifyPluginAsync } from 'fastify';
import type { EmulatorClock } from '../clock.ts';
import type { Outbox } from '../outbox.ts';
import type { QueuedFailure, Refusals } from '../refusals.ts';
import { TWILIO_REFUSALS } from '../twilio-errors.ts';

export interface EmulatorRoutesOptions {
  outbox: Outbox;
  clock: EmulatorClock;
  refusals: Refusals;
}

const failureBody = {
  type: 'object',
  required: ['code'],
  additionalProperties: false,
  properties: {
    code: { type: 'integer', enum: Object.keys(TWILIO_REFUSALS).map(Number) },
    operation: { type: 'string', enum: ['send', 'check', 'fetch', 'update'] },
    to: { type: 'string' },
    times: { type: 'integer', minimum: 1 },
  },
} as const;

/** An unencoded `+` in a query string arrives as a space; callers should not have to care. */
const normaliseRecipient = (to: string): string => (to.startsWith(' ') ? `+${to.trimStart()}` : to);

export const emulatorRoutes: FastifyPluginAsync<EmulatorRoutesOptions> = async (app, { outbox, clock, refusals }) => {
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

  // The next matching Twilio request(s) answer this Twilio error instead (20429, 60212, 60410, ...).
  app.post<{ Body: QueuedFailure }>('/_emulator/failures', { schema: { body: failureBody } }, async (request, reply) => {
    refusals.queue(request.body);
    return reply.code(204).send();
  });

  app.delete('/_emulator/failures', async (_request, reply) => {
    refusals.clear();
    return reply.code(204).send();
  });
};
