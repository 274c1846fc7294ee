import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemorySessionStore, MemoryVerificationLog, RedisSessionStore, RedisVerificationLog, type SessionStore, type VerificationLog } from '../src/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `test:${randomUUID()}:`;
const redis = new Redis(REDIS_URL, { keyPrefix: prefix });
// Without the prefix, to look at the keys exactly as they are stored.
const raw = new Redis(REDIS_URL);
afterAll(async () => {
  const left = await raw.keys(`${prefix}*`);
  if (left.length) await raw.del(...left);
  redis.disconnect();
  raw.disconnect();
});

const TTL = 60;
const phone = () => `+1415555${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`;

function sessionSuite(name: string, store: SessionStore) {
  describe(name, () => {
    it('rotates a refresh token once, then treats the old one as reuse and revokes the session', async () => {
      const s = { sid: randomUUID(), sub: phone(), refreshJti: 'r1' };
      await store.createSession(s, TTL);
      expect(await store.rotateRefresh(s, 'r2', TTL, TTL)).toBe('rotated');
      expect(await store.isSessionRevoked(s.sid)).toBe(false);
      expect(await store.rotateRefresh(s, 'r3', TTL, TTL)).toBe('reused');
      expect(await store.isSessionRevoked(s.sid)).toBe(true);
      // Even the legitimate current token is dead now.
      expect(await store.rotateRefresh({ ...s, refreshJti: 'r2' }, 'r4', TTL, TTL)).toBe('missing');
    });

    it('reports an unknown session as missing', async () => {
      expect(await store.rotateRefresh({ sid: randomUUID(), sub: phone(), refreshJti: 'x' }, 'y', TTL, TTL)).toBe('missing');
    });

    it('revokes one session and leaves the others of the subject alone', async () => {
      const sub = phone();
      const a = { sid: randomUUID(), sub, refreshJti: 'a' };
      const b = { sid: randomUUID(), sub, refreshJti: 'b' };
      await store.createSession(a, TTL);
      await store.createSession(b, TTL);
      await store.revokeSession(a.sid, sub, TTL);
      expect(await store.isSessionRevoked(a.sid)).toBe(true);
      expect(await store.isSessionRevoked(b.sid)).toBe(false);
      expect(await store.rotateRefresh(a, 'a2', TTL, TTL)).toBe('missing');
    });

    it('revokes every session of a subject, not other subjects', async () => {
      const sub = phone();
      const other = { sid: randomUUID(), sub: `${sub}9`, refreshJti: 'o' };
      const sids = [randomUUID(), randomUUID(), randomUUID()];
      for (const sid of sids) await store.createSession({ sid, sub, refreshJti: 'r' }, TTL);
      await store.createSession(other, TTL);
      expect(await store.revokeSubject(sub, TTL)).toBe(3);
      for (const sid of sids) expect(await store.isSessionRevoked(sid)).toBe(true);
      expect(await store.isSessionRevoked(other.sid)).toBe(false);
      // A login after logout-all is a fresh, valid session.
      const fresh = { sid: randomUUID(), sub, refreshJti: 'n' };
      await store.createSession(fresh, TTL);
      expect(await store.isSessionRevoked(fresh.sid)).toBe(false);
      expect(await store.revokeSubject(sub, TTL)).toBe(1);
    });
  });
}

function verificationSuite(name: string, log: VerificationLog) {
  describe(name, () => {
    it('remembers a sent code until cleared', async () => {
      const p = phone();
      expect(await log.wasSent(p)).toBe(false);
      await log.recordSent(p, TTL);
      expect(await log.wasSent(p)).toBe(true);
      await log.clear(p);
      expect(await log.wasSent(p)).toBe(false);
    });
  });
}

sessionSuite('RedisSessionStore', new RedisSessionStore(redis));
sessionSuite('MemorySessionStore', new MemorySessionStore());
verificationSuite('RedisVerificationLog', new RedisVerificationLog(redis));
verificationSuite('MemoryVerificationLog', new MemoryVerificationLog());

describe('expiry', () => {
  it('sets a TTL on every Redis key it writes', async () => {
    const store = new RedisSessionStore(redis);
    const s = { sid: randomUUID(), sub: phone(), refreshJti: 'r' };
    await store.createSession(s, TTL);
    await store.revokeSession(s.sid, s.sub, 120);
    const written = await raw.keys(`${prefix}*`);
    expect(written.length).toBeGreaterThan(0);
    for (const key of written) expect(await raw.ttl(key), key).toBeGreaterThan(0);
  });

  it('forgets memory entries after their TTL', async () => {
    let now = 0;
    const store = new MemorySessionStore(() => now);
    const s = { sid: 'sid', sub: '+14155550000', refreshJti: 'r' };
    await store.createSession(s, 10);
    await store.revokeSession(s.sid, s.sub, 10);
    expect(await store.isSessionRevoked('sid')).toBe(true);
    now = 11_000;
    expect(await store.isSessionRevoked('sid')).toBe(false);
  });

  it('answers STORE_UNAVAILABLE at once when Redis cannot be reached', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    const started = Date.now();
    await expect(new RedisSessionStore(dead).isSessionRevoked('x')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', statusCode: 503 });
    expect(Date.now() - started).toBeLessThan(1_000);
    dead.disconnect();
  });
});
