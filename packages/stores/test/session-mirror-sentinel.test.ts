// The gateway's session mirror behind Redis Sentinel: its subscriber connection (a duplicate of the
// main client) finds the primary through the sentinel too, so the mirror gets in sync and hears
// session ends. A private primary and one sentinel.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisServerProcess } from '@repo/test-support';
import { RedisSessionMirror, RedisSessionStore } from '../src/index.ts';

const NAME = 'mirror-test';
let primary: RedisServerProcess;
let sentinel: RedisServerProcess;
let client: Redis;
let mirror: RedisSessionMirror;

beforeAll(async () => {
  primary = await RedisServerProcess.onFreePort();
  await primary.start();
  sentinel = await RedisServerProcess.sentinel(NAME, primary.port);
  await sentinel.start();
  // Set up like the gateway's client (createRedis in @repo/runtime with REDIS_SENTINELS).
  client = new Redis({
    sentinels: [{ host: '127.0.0.1', port: sentinel.port }],
    name: NAME,
    keyPrefix: `test:${randomUUID()}:`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 700,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connection to the primary through the sentinel within 60 s')), 60_000);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}, 120_000);

afterAll(async () => {
  await mirror?.close();
  client?.disconnect();
  await sentinel?.stop();
  await primary?.stop();
});

it('gets in sync through the sentinel and refuses a session as soon as it ends', async () => {
  mirror = new RedisSessionMirror(client, { heartbeatMs: 50, staleAfterMs: 1_000 });
  mirror.start();
  const deadline = Date.now() + 30_000;
  while (!mirror.state().inSync) {
    if (Date.now() > deadline) throw new Error('the mirror did not get in sync within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const store = new RedisSessionStore(client);
  const s = { sid: randomUUID(), sub: '+14155550123', refreshJti: 'r1' };
  await store.createSession(s, 60);
  expect(await mirror.isSessionActive(s.sid, s.sub)).toBe(true);
  expect(await mirror.isSessionActive(s.sid, s.sub)).toBe(true);
  expect(mirror.state().hits).toBeGreaterThan(0);
  await store.revokeSession(s.sid, s.sub);
  // The end arrives through the subscription (about a millisecond); no Redis read decides it.
  const until = Date.now() + 5_000;
  while ((await mirror.isSessionActive(s.sid, s.sub)) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  expect(await mirror.isSessionActive(s.sid, s.sub)).toBe(false);
  expect(mirror.state().inSync).toBe(true);
});
