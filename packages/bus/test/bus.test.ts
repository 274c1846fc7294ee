import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers as natsHeaders, JSONCodec, type NatsConnection } from 'nats';
import { AppError, defineEndpoint, SAFE_REQUEST_ID } from '@repo/contracts';
import { handle, InProcessBus, NatsBus, REQUEST_ID_HEADER, type Bus, type BusLogger } from '../src/index.ts';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

const silent: BusLogger = { info() {}, warn() {}, error() {}, child: () => silent };

// Unique subjects per run so a system running on the same NATS never answers our requests.
const run = randomUUID().slice(0, 8);
const echo = defineEndpoint(`test${run}.echo.call`, Type.Object({ n: Type.Integer() }), Type.Object({ n: Type.Integer(), by: Type.String(), reqId: Type.Optional(Type.String()) }));
const fails = defineEndpoint(`test${run}.fail.call`, Type.Object({ kind: Type.String() }), Type.Object({ ok: Type.Boolean() }));
const nobody = defineEndpoint(`test${run}.nobody.call`, Type.Object({}), Type.Object({}));

function suite(name: string, makeBus: () => Promise<Bus>) {
  describe(name, () => {
    let bus: Bus;
    beforeAll(async () => {
      bus = await makeBus();
      for (const replica of ['a', 'b']) {
        await bus.serve({ name: 'echo', version: '1.0.0', log: silent }, [
          handle(echo, async ({ n }, ctx) => ({ n: n + 1, by: replica, ...(ctx.requestId ? { reqId: ctx.requestId } : {}) })),
          handle(fails, async ({ kind }) => {
            if (kind === 'app') throw new AppError('VERIFICATION_EXPIRED');
            if (kind === 'bad-reply') return { unexpected: true } as never;
            throw new Error('secret internal detail');
          }),
        ]);
      }
    });
    afterAll(async () => {
      await bus.close();
    });

    it('replies, carrying the request id to the handler', async () => {
      const reply = await bus.request(echo, { n: 41 }, { requestId: 'req-123' });
      expect(reply.n).toBe(42);
      expect(reply.reqId).toBe('req-123');
    });

    it('shares requests among replicas of a service', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) seen.add((await bus.request(echo, { n: i })).by);
      expect([...seen].sort()).toEqual(['a', 'b']);
    });

    it('rejects a payload that does not match the schema with VALIDATION_ERROR', async () => {
      await expect(bus.request(echo, { n: 'x' } as never)).rejects.toMatchObject({ code: 'VALIDATION_ERROR', statusCode: 400 });
    });

    it('carries an AppError back to the caller with its code', async () => {
      await expect(bus.request(fails, { kind: 'app' })).rejects.toMatchObject({ code: 'VERIFICATION_EXPIRED', statusCode: 410 });
    });

    it('turns an unexpected error into INTERNAL without leaking its message', async () => {
      const err = await bus.request(fails, { kind: 'crash' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('INTERNAL');
      expect((err as AppError).message).not.toContain('secret');
    });

    it('refuses a reply that breaks the contract', async () => {
      await expect(bus.request(fails, { kind: 'bad-reply' })).rejects.toMatchObject({ code: 'INTERNAL', statusCode: 500 });
    });

    it('answers SERVICE_UNAVAILABLE fast when nobody serves a subject', async () => {
      const started = Date.now();
      await expect(bus.request(nobody, {})).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', statusCode: 503 });
      expect(Date.now() - started).toBeLessThan(1_000);
    });
  });
}

describe('NatsBus: the request id of a message', () => {
  // Any process on NATS can publish with any header: a handler sees the id only when it is safe.
  let bus: Bus;
  let raw: NatsConnection;
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const json = JSONCodec();
  beforeAll(async () => {
    bus = await NatsBus.connect({ url: NATS_URL, name: 'bus-test-request-id', log: silent });
    await bus.serve({ name: 'echo-request-id', version: '1.0.0', log: silent }, [handle(echo, async ({ n }, ctx) => ({ n, by: 'x', ...(ctx.requestId ? { reqId: ctx.requestId } : {}) }))]);
    raw = await connect({ servers: NATS_URL });
  });
  afterAll(async () => {
    await raw?.close();
    await bus?.close();
  });

  const idSeen = async (id: string | undefined) => {
    const h = natsHeaders();
    if (id !== undefined) h.set(REQUEST_ID_HEADER, id);
    const reply = await raw.request(echo.subject, json.encode({ n: 1 }), { timeout: 5_000, headers: h });
    return (json.decode(reply.data) as { reqId?: string }).reqId;
  };

  it('keeps a safe id and replaces an unsafe or missing one with a fresh UUID', async () => {
    for (const safe of ['req-123', 'a.b_C-9', 'a'.repeat(64)]) expect(await idSeen(safe)).toBe(safe);
    for (const unsafe of ['a'.repeat(65), 'x y', '<script>alert(1)</script>', '${jndi:ldap://x}', '../../etc/passwd', 'id;drop', '\u00e9t\u00e9', '']) {
      const seen = await idSeen(unsafe);
      expect(seen, JSON.stringify(unsafe)).toMatch(UUID);
    }
    expect(await idSeen(undefined)).toMatch(UUID);
    expect(SAFE_REQUEST_ID.test('a'.repeat(65))).toBe(false);
  });
});

suite('InProcessBus', async () => new InProcessBus());
suite('NatsBus on the real NATS', () => NatsBus.connect({ url: NATS_URL, name: 'bus-test', log: silent }));
