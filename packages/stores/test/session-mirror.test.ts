import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '@repo/contracts';
import { RedisSessionMirror, RedisSessionStore } from '../src/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const target = new URL(REDIS_URL);
const prefix = `test:${randomUUID()}:`;
// token-service's side: it writes, and announces the ends.
const writer = new Redis(REDIS_URL, { keyPrefix: prefix });
const store = new RedisSessionStore(writer);
const raw = new Redis(REDIS_URL);
const cleanup: Array<() => unknown> = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
  const left = await raw.keys(`${prefix}*`);
  if (left.length) await raw.del(...left);
  writer.disconnect();
  raw.disconnect();
});

const TTL = 600;
const phone = () => `+1415555${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until true; the bound is generous (a busy machine), the time it took is returned. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(5);
  }
}

/** A gateway's mirror with its own client, set up like the gateway's (createRedis in @repo/runtime). */
async function mirror(url = REDIS_URL): Promise<RedisSessionMirror> {
  const redis = new Redis(url, { keyPrefix: prefix, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 700, retryStrategy: () => 50 });
  redis.on('error', () => undefined);
  const m = startMirror(redis, { heartbeatMs: 50, staleAfterMs: 300 });
  await within(30_000, 'the mirror to be in sync', async () => m.state().inSync);
  return m;
}

/** A started mirror on `redis`, closed (and the client disconnected) after the tests. */
function startMirror(redis: Redis, options: { heartbeatMs: number; staleAfterMs: number }): RedisSessionMirror {
  const m = new RedisSessionMirror(redis, options);
  m.start();
  cleanup.push(async () => {
    await m.close();
    redis.disconnect();
  });
  return m;
}

describe('start', () => {
  it('is in sync a round trip after subscribing, without waiting for the next heartbeat', async () => {
    const redis = new Redis(REDIS_URL, { keyPrefix: prefix, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 700 });
    redis.on('error', () => undefined);
    await new Promise((resolve) => redis.once('ready', resolve));
    // No second heartbeat within the test's bound: only the one sent once subscribed can do it.
    const m = startMirror(redis, { heartbeatMs: 600_000, staleAfterMs: 1_200_000 });
    await within(5_000, 'the mirror to be in sync', async () => m.state().inSync);
  });
});

async function newSession(ttl = TTL) {
  const s = { sid: randomUUID(), sub: phone(), refreshJti: randomUUID() };
  await store.createSession(s, ttl);
  return s;
}

/** A TCP proxy to Redis that a test can cut, as a network partition would. */
class Cut {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async up(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

// Generous bounds: these tests wait on Redis and timers, and the machine may be busy.
describe('RedisSessionMirror', { timeout: 60_000 }, () => {
  it('answers like the store, and from memory once it has asked', async () => {
    const m = await mirror();
    const s = await newSession();
    expect(await m.isSessionActive(s.sid, s.sub)).toBe(true);
    expect(await m.isSessionActive(s.sid, '+14155550000')).toBe(false);
    expect(await m.isSessionActive(randomUUID(), s.sub)).toBe(false);
    const before = m.state();
    for (let i = 0; i < 10; i++) expect(await m.isSessionActive(s.sid, s.sub)).toBe(true);
    expect(m.state().hits - before.hits).toBe(10);
    expect(m.state().misses).toBe(before.misses);
  });

  it('refuses a session that another process ended, on every replica, within milliseconds', async () => {
    const [a, b] = [await mirror(), await mirror()];
    const s = await newSession();
    expect(await a.isSessionActive(s.sid, s.sub)).toBe(true);
    expect(await b.isSessionActive(s.sid, s.sub)).toBe(true);
    await store.revokeSession(s.sid, s.sub);
    const ms = await within(5_000, 'both replicas to refuse the ended session', async () => !(await a.isSessionActive(s.sid, s.sub)) && !(await b.isSessionActive(s.sid, s.sub)));
    expect(ms).toBeLessThan(1_000);
  });

  it('refuses every cached session of a subject after a logout-all', async () => {
    const m = await mirror();
    const one = await newSession();
    const two = { sid: randomUUID(), sub: one.sub, refreshJti: randomUUID() };
    await store.createSession(two, TTL);
    const other = await newSession();
    for (const s of [one, two, other]) expect(await m.isSessionActive(s.sid, s.sub)).toBe(true);
    await store.revokeSubject(one.sub, TTL);
    await within(5_000, 'the subject to be refused', async () => !(await m.isSessionActive(one.sid, one.sub)) && !(await m.isSessionActive(two.sid, two.sub)));
    expect(await m.isSessionActive(other.sid, other.sub)).toBe(true);
  });

  it('refuses a session revoked because a spent refresh token came back', async () => {
    const m = await mirror();
    const s = await newSession();
    expect(await m.isSessionActive(s.sid, s.sub)).toBe(true);
    const pair = { access_token: 'a', refresh_token: 'r', token_type: 'Bearer' as const };
    expect(await store.rotateRefresh(s, { jti: 'next', pair }, TTL, 0)).toEqual({ outcome: 'rotated' });
    expect(await m.isSessionActive(s.sid, s.sub)).toBe(true);
    expect(await store.rotateRefresh(s, { jti: 'again', pair }, TTL, 0)).toEqual({ outcome: 'reused' });
    await within(5_000, 'the reused session to be refused', async () => !(await m.isSessionActive(s.sid, s.sub)));
  });

  it('refuses at once a session this process ended itself, before the event comes back', async () => {
    const m = await mirror();
    const s = await newSession();
    expect(await m.isSessionActive(s.sid, s.sub)).toBe(true);
    m.sessionEnded(s.sid);
    expect(await m.isSessionActive(s.sid, s.sub)).toBe(false);
    const t = await newSession();
    expect(await m.isSessionActive(t.sid, t.sub)).toBe(true);
    m.subjectRevoked(t.sub);
    expect(await m.isSessionActive(t.sid, t.sub)).toBe(false);
  });

  it('does not keep a session alive past its expiry in Redis', async () => {
    const m = await mirror();
    const s = await newSession(1);
    expect(await m.isSessionActive(s.sid, s.sub)).toBe(true);
    await within(10_000, 'the expired session to be refused', async () => !(await m.isSessionActive(s.sid, s.sub)));
  });

  it('forgets everything when Redis lost its data, and refuses the sessions it lost', async () => {
    const m = await mirror();
    const s = await newSession();
    expect(await m.isSessionActive(s.sid, s.sub)).toBe(true);
    // As a FLUSHALL or a restart without persistence would, but for this test's namespace only.
    const all = await raw.keys(`${prefix}*`);
    await raw.del(...all);
    const ms = await within(5_000, 'the lost session to be refused', async () => !(await m.isSessionActive(s.sid, s.sub)));
    expect(ms).toBeLessThan(2_000);
  });

  it('fails closed while cut off from Redis, and trusts its copy again only once back in sync', async () => {
    const cut = new Cut();
    await cut.up();
    cleanup.push(() => cut.down());
    const m = await mirror(`redis://127.0.0.1:${cut.port}`);
    const s = await newSession();
    expect(await m.isSessionActive(s.sid, s.sub)).toBe(true);
    await cut.down();
    // A cached answer may be given until the mirror notices (staleAfterMs); then every check fails.
    const failing = async () =>
      m.isSessionActive(s.sid, s.sub).then(
        () => false,
        (err: unknown) => err instanceof AppError && err.code === 'STORE_UNAVAILABLE',
      );
    await within(5_000, 'checks to fail closed with STORE_UNAVAILABLE', failing);
    expect(m.state().inSync).toBe(false);
    for (let i = 0; i < 5; i++) expect(await failing()).toBe(true);
    // Ended while the mirror could not hear it.
    await store.revokeSession(s.sid, s.sub);
    await cut.up();
    await within(30_000, 'the mirror to be back in sync', async () => m.state().inSync);
    expect(await m.isSessionActive(s.sid, s.sub)).toBe(false);
  });
});
