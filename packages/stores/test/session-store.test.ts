import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '@repo/contracts';
import { keys, MemorySessionStore, MemoryVerificationLog, RedisSessionStore, RedisVerificationLog, type SessionStore, type VerificationLog } from '../src/index.ts';

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

const pair = (n: string): TokenPair => ({ access_token: `a-${n}`, refresh_token: `r-${n}`, token_type: 'Bearer' });

function sessionSuite(name: string, store: SessionStore) {
  describe(name, () => {
    it('rotates a refresh token once, then treats an older one as reuse and revokes the session', async () => {
      const s = { sid: randomUUID(), sub: phone(), refreshJti: 'r1' };
      await store.createSession(s, TTL);
      expect(await store.isSessionActive(s.sid, s.sub)).toBe(true);
      expect(await store.rotateRefresh(s, { jti: 'r2', pair: pair('2') }, TTL, 0)).toEqual({ outcome: 'rotated' });
      expect(await store.isSessionActive(s.sid, s.sub)).toBe(true);
      // No reuse interval: the spent token kills the session at once.
      expect(await store.rotateRefresh(s, { jti: 'r3', pair: pair('3') }, TTL, 0)).toEqual({ outcome: 'reused' });
      expect(await store.isSessionActive(s.sid, s.sub)).toBe(false);
      // Even the legitimate current token is dead now.
      expect(await store.rotateRefresh({ ...s, refreshJti: 'r2' }, { jti: 'r4', pair: pair('4') }, TTL, 0)).toEqual({ outcome: 'missing' });
    });

    it('gives the immediately previous token the same successor pair within the reuse interval', async () => {
      const s = { sid: randomUUID(), sub: phone(), refreshJti: 'r1' };
      await store.createSession(s, TTL);
      expect(await store.rotateRefresh(s, { jti: 'r2', pair: pair('2') }, TTL, 10)).toEqual({ outcome: 'rotated' });
      // A retry or a second tab: same pair, session intact, r2 still current.
      expect(await store.rotateRefresh(s, { jti: 'r2b', pair: pair('2b') }, TTL, 10)).toEqual({ outcome: 'replayed', pair: pair('2') });
      expect(await store.rotateRefresh(s, { jti: 'r2c', pair: pair('2c') }, TTL, 10)).toEqual({ outcome: 'replayed', pair: pair('2') });
      expect(await store.isSessionActive(s.sid, s.sub)).toBe(true);
      const r2 = { ...s, refreshJti: 'r2' };
      expect(await store.rotateRefresh(r2, { jti: 'r3', pair: pair('3') }, TTL, 10)).toEqual({ outcome: 'rotated' });
      // r1 is now two rotations old: reuse, whatever the interval.
      expect(await store.rotateRefresh(s, { jti: 'x', pair: pair('x') }, TTL, 10)).toEqual({ outcome: 'reused' });
      expect(await store.isSessionActive(s.sid, s.sub)).toBe(false);
    });

    it('answers concurrent refreshes of one token with one pair and keeps the session', async () => {
      const s = { sid: randomUUID(), sub: phone(), refreshJti: 'r1' };
      await store.createSession(s, TTL);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.rotateRefresh(s, { jti: `n${i}`, pair: pair(`n${i}`) }, TTL, 10)));
      const rotated = results.filter((r) => r.outcome === 'rotated');
      expect(rotated).toHaveLength(1);
      const winner = results.findIndex((r) => r.outcome === 'rotated');
      for (const r of results) if (r.outcome !== 'rotated') expect(r).toEqual({ outcome: 'replayed', pair: pair(`n${winner}`) });
      expect(await store.isSessionActive(s.sid, s.sub)).toBe(true);
    });

    it('reports an unknown session, or one presented for another subject, as missing', async () => {
      expect(await store.rotateRefresh({ sid: randomUUID(), sub: phone(), refreshJti: 'x' }, { jti: 'y', pair: pair('y') }, TTL, 10)).toEqual({ outcome: 'missing' });
      const s = { sid: randomUUID(), sub: phone(), refreshJti: 'r1' };
      await store.createSession(s, TTL);
      expect(await store.isSessionActive(s.sid, `${s.sub}1`)).toBe(false);
      expect(await store.rotateRefresh({ ...s, sub: `${s.sub}1` }, { jti: 'y', pair: pair('y') }, TTL, 10)).toEqual({ outcome: 'missing' });
    });

    it('revokes one session and leaves the others of the subject alone', async () => {
      const sub = phone();
      const a = { sid: randomUUID(), sub, refreshJti: 'a' };
      const b = { sid: randomUUID(), sub, refreshJti: 'b' };
      await store.createSession(a, TTL);
      await store.createSession(b, TTL);
      await store.revokeSession(a.sid, sub);
      expect(await store.isSessionActive(a.sid, sub)).toBe(false);
      expect(await store.isSessionActive(b.sid, sub)).toBe(true);
      expect(await store.rotateRefresh(a, { jti: 'a2', pair: pair('a2') }, TTL, 10)).toEqual({ outcome: 'missing' });
    });

    it('revokes every session of a subject, not other subjects, and lets a later login in', async () => {
      const sub = phone();
      const other = { sid: randomUUID(), sub: `${sub}9`, refreshJti: 'o' };
      const sids = [randomUUID(), randomUUID(), randomUUID()];
      for (const sid of sids) await store.createSession({ sid, sub, refreshJti: 'r' }, TTL);
      await store.createSession(other, TTL);
      expect(await store.revokeSubject(sub, TTL)).toBe(3);
      for (const sid of sids) expect(await store.isSessionActive(sid, sub)).toBe(false);
      expect(await store.isSessionActive(other.sid, other.sub)).toBe(true);
      const fresh = { sid: randomUUID(), sub, refreshJti: 'n' };
      await store.createSession(fresh, TTL);
      expect(await store.isSessionActive(fresh.sid, sub)).toBe(true);
      expect(await store.revokeSubject(sub, TTL)).toBe(1);
      expect(await store.isSessionActive(fresh.sid, sub)).toBe(false);
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

    it("counts wrong codes of the number's current code only, from 0 at each new code until it is used", async () => {
      const p = phone();
      await log.recordWrongCode(p);
      expect(await log.wrongCodes(p)).toBe(0);
      await log.startCode(p, TTL);
      await log.recordWrongCode(p);
      await log.recordWrongCode(p);
      expect(await log.wrongCodes(p)).toBe(2);
      await log.startCode(p, TTL);
      expect(await log.wrongCodes(p)).toBe(0);
      await log.recordWrongCode(p);
      await log.markUsed(p, 'hash', TTL);
      expect(await log.wrongCodes(p)).toBe(0);
    });
  });
}

sessionSuite('RedisSessionStore', new RedisSessionStore(redis));
sessionSuite('MemorySessionStore', new MemorySessionStore());
verificationSuite('RedisVerificationLog', new RedisVerificationLog(redis));
verificationSuite('MemoryVerificationLog', new MemoryVerificationLog());

describe('expiry and failure', () => {
  it('sets a TTL on every Redis key it writes', async () => {
    const store = new RedisSessionStore(redis);
    const s = { sid: randomUUID(), sub: phone(), refreshJti: 'r' };
    await store.createSession(s, TTL);
    await store.rotateRefresh(s, { jti: 'r2', pair: pair('2') }, TTL, 10);
    await store.revokeSubject(s.sub, 120);
    const written = await raw.keys(`${prefix}*`);
    expect(written.length).toBeGreaterThan(0);
    for (const key of written) expect(await raw.ttl(key), key).toBeGreaterThan(0);
  });

  it('ends a session that the subject set no longer lists when logging out everywhere', async () => {
    const store = new RedisSessionStore(redis);
    const s = { sid: randomUUID(), sub: phone(), refreshJti: 'r' };
    await store.createSession(s, TTL);
    // The set entry is gone (expired or lost) while the session and its tokens live on.
    await redis.del(keys.subjectSessions(s.sub));
    expect(await store.revokeSubject(s.sub, TTL)).toBe(0);
    expect(await store.isSessionActive(s.sid, s.sub)).toBe(false);
    expect(await store.rotateRefresh(s, { jti: 'r2', pair: pair('2') }, TTL, 10)).toEqual({ outcome: 'missing' });
  });

  it('fails closed when Redis lost its data: a known token of a vanished session is refused', async () => {
    const store = new RedisSessionStore(redis);
    const s = { sid: randomUUID(), sub: phone(), refreshJti: 'r' };
    await store.createSession(s, TTL);
    await redis.del(keys.session(s.sid), keys.subjectSessions(s.sub));
    expect(await store.isSessionActive(s.sid, s.sub)).toBe(false);
  });

  it('forgets memory sessions after their TTL', async () => {
    let now = 1_000_000;
    const store = new MemorySessionStore(() => now);
    const s = { sid: 'sid', sub: '+14155550000', refreshJti: 'r' };
    await store.createSession(s, 10);
    expect(await store.isSessionActive('sid', s.sub)).toBe(true);
    now += 11_000;
    expect(await store.isSessionActive('sid', s.sub)).toBe(false);
  });

  it('answers STORE_UNAVAILABLE at once when Redis cannot be reached', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    const started = Date.now();
    await expect(new RedisSessionStore(dead).isSessionActive('x', '+14155550000')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', statusCode: 503 });
    expect(Date.now() - started).toBeLessThan(1_000);
    dead.disconnect();
  });

  it('answers INTERNAL, not 503, when Redis refuses a command (a bug, not an outage)', async () => {
    await raw.set(`${prefix}${keys.session('wrongtype')}`, 'a string, not a hash', 'EX', 60);
    await expect(new RedisSessionStore(redis).isSessionActive('wrongtype', '+14155550000')).rejects.toMatchObject({ code: 'INTERNAL', statusCode: 500 });
  });
});
