// NATS down, frozen or not there yet: the bus answers fast and recovers by itself. Runs on a
// private nats-server, since these tests stop and freeze it.
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, defineEndpoint } from '@repo/contracts';
import { handle, NatsBus, type BusLogger } from '../src/index.ts';
import { NatsServerProcess } from '@repo/test-support';

/** Starting nats-server and reconnecting take long on a busy machine: a bound above the waits' own. */
const PROCESS_TEST_TIMEOUT_MS = 180_000;
const silent: BusLogger = { info() {}, warn() {}, error() {}, child: () => silent };
const echo = defineEndpoint(`outage${randomUUID().slice(0, 8)}.echo.call`, Type.Object({ n: Type.Integer() }), Type.Object({ n: Type.Integer() }));

async function timed<T>(work: Promise<T>): Promise<{ ms: number; result: T | AppError }> {
  const started = Date.now();
  const result = await work.catch((err: unknown) => err as AppError);
  return { ms: Date.now() - started, result };
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('NatsBus when NATS is not there', () => {
  let nats: NatsServerProcess;
  let server: NatsBus;
  let client: NatsBus;

  beforeAll(async () => {
    nats = await NatsServerProcess.onFreePort();
    // Both start before NATS does: neither may throw, and the service must serve once it comes.
    server = new NatsBus({ url: nats.url, name: 'outage-server', log: silent });
    client = new NatsBus({ url: nats.url, name: 'outage-client', log: silent });
    await server.serve({ name: 'outage-echo', version: '1.0.0', log: silent }, [handle(echo, async ({ n }) => ({ n: n + 1 }))]);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), client?.close()]);
    await nats?.stop();
  });

  it('answers 503 with retry_after at once before the first connection, and is not ready', async () => {
    const { ms, result } = await timed(client.request(echo, { n: 1 }));
    expect(result).toBeInstanceOf(AppError);
    expect(result).toMatchObject({ code: 'SERVICE_UNAVAILABLE', statusCode: 503, retryAfter: 1 });
    expect(ms).toBeLessThan(500);
    const ping = await timed(client.ping());
    expect(ping.result).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(ping.ms).toBeLessThan(1_000);
  });

  it('connects and serves when NATS comes up', async () => {
    await nats.start();
    expect(await client.whenConnected(30_000)).toBe(true);
    expect(await server.whenConnected(30_000)).toBe(true);
    await eventually(async () => (await client.request(echo, { n: 1 })).n === 2, 'the echo service to answer');
    await expect(client.ping()).resolves.toBeUndefined();
  }, PROCESS_TEST_TIMEOUT_MS);

  it('answers 503 at once while NATS is stopped, and recovers when it is back', async () => {
    await nats.stop('SIGKILL');
    await eventually(async () => !client.isConnected, 'the client to notice the disconnect');
    const { ms, result } = await timed(client.request(echo, { n: 1 }, { idempotent: true }));
    expect(result).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfter: 1 });
    expect(ms).toBeLessThan(500);
    const ping = await timed(client.ping());
    expect(ping.result).toBeInstanceOf(AppError);
    expect(ping.ms).toBeLessThan(1_000);

    await nats.start();
    const back = Date.now();
    await eventually(async () => (await client.request(echo, { n: 5 })).n === 6, 'the echo service to answer again');
    expect(Date.now() - back).toBeLessThan(10_000);
  }, PROCESS_TEST_TIMEOUT_MS);

  it('answers readiness within a second and requests within 2 s while NATS is frozen', async () => {
    nats.freeze();
    try {
      // Sent just as NATS froze: it must not wait its whole 10 s budget.
      const waiting = timed(client.request(echo, { n: 1 }, { timeoutMs: 10_000 }));
      // Let what the server sent before it froze arrive first.
      await new Promise((r) => setTimeout(r, 200));
      const ping = await timed(client.ping());
      expect(ping.result).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(ping.ms).toBeLessThan(1_100);
      const first = await waiting;
      // On a busy machine the server may still have answered it before the SIGSTOP took hold; what
      // must never happen is a wait for the whole budget.
      if (!(first.result && typeof first.result === 'object' && 'n' in first.result)) {
        expect(first.result).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfter: 1 });
      }
      expect(first.ms).toBeLessThan(2_500);
      // Once it is known to be silent, at once.
      const next = await timed(client.request(echo, { n: 1 }));
      expect(next.result).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(next.ms).toBeLessThan(500);
    } finally {
      nats.thaw();
    }
    await eventually(async () => (await client.request(echo, { n: 1 })).n === 2, 'the echo service after the thaw');
  }, PROCESS_TEST_TIMEOUT_MS);
});
