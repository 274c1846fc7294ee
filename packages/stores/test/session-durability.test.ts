// Session ends acknowledged only once a replica has them (Redis WAIT, REDIS_WAIT_REPLICAS): a
// private primary and replica; the replica frozen stands for one that lags or is gone.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServerProcess } from '@repo/test-support';
import { keys, RedisSessionStore } from '../src/index.ts';

const TTL = 60;
const prefix = `test:${randomUUID()}:`;
let primary: RedisServerProcess;
let replica: RedisServerProcess;
let writer: Redis;
let onReplica: Redis;
const errors: Array<{ obj: object; msg: string }> = [];
const stores: RedisSessionStore[] = [];
const log = { error: (obj: object, msg: string) => errors.push({ obj, msg }) };

const newSession = async (store: RedisSessionStore) => {
  const s = { sid: randomUUID(), sub: `+1415555${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`, refreshJti: 'r1' };
  await store.createSession(s, TTL);
  return s;
};

beforeAll(async () => {
  primary = await RedisServerProcess.onFreePort();
  await primary.start();
  replica = await RedisServerProcess.onFreePort(['--replicaof', '127.0.0.1', String(primary.port)]);
  await replica.start();
  // A command timeout longer than any WAIT below, so a 503 comes from WAIT, not from the client.
  writer = new Redis(primary.url, { keyPrefix: prefix, enableOfflineQueue: true, maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  onReplica = new Redis(replica.url, { keyPrefix: prefix });
  const deadline = Date.now() + 60_000;
  while ((await onReplica.info('replication')).includes('master_link_status:up') === false) {
    if (Date.now() > deadline) throw new Error('the replica did not sync with the primary within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}, 120_000);

afterAll(async () => {
  for (const store of stores) store.close();
  writer?.disconnect();
  onReplica?.disconnect();
  await replica?.stop();
  await primary?.stop();
});

describe('RedisSessionStore with waitReplicas', () => {
  it('acknowledges a logout only once the replica has it', async () => {
    const store = new RedisSessionStore(writer, { waitReplicas: 1, waitTimeoutMs: 2_000, log });
    stores.push(store);
    const s = await newSession(store);
    await store.revokeSession(s.sid, s.sub);
    // No waiting here: when the logout resolved, the replica already had it.
    expect(await onReplica.exists(keys.session(s.sid))).toBe(0);
    const t = await newSession(store);
    await store.revokeSubject(t.sub, TTL);
    expect(await onReplica.exists(keys.revokedBefore(t.sub))).toBe(1);
    expect(errors).toEqual([]);
  });

  it('answers STORE_UNAVAILABLE (503) and logs why when no replica confirms in time, for each kind of session end', async () => {
    const store = new RedisSessionStore(writer, { waitReplicas: 1, waitTimeoutMs: 300, log });
    stores.push(store);
    const a = await newSession(store);
    const b = await newSession(store);
    const c = await newSession(store);
    await store.rotateRefresh(c, { jti: 'r2', pair: { access_token: 'a', refresh_token: 'r', token_type: 'Bearer' } }, TTL, 0);
    replica.freeze();
    try {
      const started = Date.now();
      await expect(store.revokeSession(a.sid, a.sub)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', statusCode: 503 });
      expect(Date.now() - started).toBeLessThan(1_500);
      await expect(store.revokeSubject(b.sub, TTL)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', statusCode: 503 });
      // r1 again after the rotation: reuse, which ends the session.
      await expect(store.rotateRefresh(c, { jti: 'r3', pair: { access_token: 'a', refresh_token: 'r', token_type: 'Bearer' } }, TTL, 0)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(errors.map((e) => (e.obj as { what: string }).what)).toEqual(['logout', 'logout-all', 'refresh token reuse']);
      expect(errors[0]!.msg).toMatch(/not durable/);
      expect(errors[0]!.obj).toMatchObject({ replicas: 0, wanted: 1 });
      // The primary did end them: a retry finds them ended, and nothing on the primary lets them in.
      expect(await store.isSessionActive(a.sid, a.sub)).toBe(false);
      expect(await store.isSessionActive(b.sid, b.sub)).toBe(false);
      expect(await store.isSessionActive(c.sid, c.sub)).toBe(false);
    } finally {
      replica.thaw();
      errors.length = 0;
    }
  });

  it('keeps logins and session checks moving while a logout waits for a replica (its own connection)', async () => {
    const store = new RedisSessionStore(writer, { waitReplicas: 1, waitTimeoutMs: 1_500, log });
    stores.push(store);
    const s = await newSession(store);
    replica.freeze();
    try {
      const logout = store.revokeSession(s.sid, s.sub).then(
        () => 'acknowledged',
        () => 'refused',
      );
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      const other = await newSession(store);
      expect(await store.isSessionActive(other.sid, other.sub)).toBe(true);
      // Well before WAIT gives up on the frozen replica.
      expect(Date.now() - started).toBeLessThan(700);
      expect(await logout).toBe('refused');
    } finally {
      replica.thaw();
      errors.length = 0;
    }
  });

  it('does not wait by default (waitReplicas 0): acknowledged once the primary has it', async () => {
    const store = new RedisSessionStore(writer, { log });
    const s = await newSession(store);
    replica.freeze();
    try {
      const started = Date.now();
      await store.revokeSession(s.sid, s.sub);
      expect(Date.now() - started).toBeLessThan(300);
      expect(errors).toEqual([]);
    } finally {
      replica.thaw();
    }
  });
});
