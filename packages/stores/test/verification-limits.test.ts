import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MemoryVerificationLimits,
  MemoryVerificationLog,
  RedisVerificationLimits,
  RedisVerificationLog,
  type VerificationLimits,
  type VerificationLog,
} from '../src/index.ts';

const HOUR_MS = 3_600_000;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `test:${randomUUID()}:`;
const redis = new Redis(REDIS_URL, { keyPrefix: prefix });
const raw = new Redis(REDIS_URL);
afterAll(async () => {
  const left = await raw.keys(`${prefix}*`);
  if (left.length) await raw.del(...left);
  redis.disconnect();
  raw.disconnect();
});

let n = 0;
const phone = () => `+14155${String(++n).padStart(6, '0')}`;
const policy = { minIntervalSeconds: 60, hourlyBudget: 1_000 };
const guesses = { maxWrongCodes: 10, windowSeconds: 3_600 };

// Each suite runs in its own clock hour, so the hourly budgets of the two suites never meet.
function limitsSuite(name: string, build: (now: () => number) => VerificationLimits, hourIndex: number) {
  describe(name, () => {
    let now = hourIndex * HOUR_MS + 10_000;
    const limits = build(() => now);

    it('refuses a second code to one number within the minimum interval, whatever the other numbers do', async () => {
      const p = phone();
      expect(await limits.reserveSend(p, policy)).toMatchObject({ allowed: true });
      const again = await limits.reserveSend(p, policy);
      expect(again).toMatchObject({ allowed: false, limit: 'min-interval' });
      expect(again.allowed ? 0 : again.retryAfterSeconds).toBeGreaterThan(55);
      expect(again.allowed ? 0 : again.retryAfterSeconds).toBeLessThanOrEqual(60);
      expect(await limits.reserveSend(phone(), policy)).toMatchObject({ allowed: true });
      expect(await limits.reserveSend(p, { ...policy, minIntervalSeconds: 0 })).toMatchObject({ allowed: false, limit: 'min-interval' });
    });

    it('gives a send back when it never reached the provider', async () => {
      const p = phone();
      const first = await limits.reserveSend(p, policy);
      if (!first.allowed) throw new Error('expected a reservation');
      await limits.releaseSend(p, first.hour);
      expect(await limits.reserveSend(p, policy)).toMatchObject({ allowed: true });
    });

    it('stops every number once the hourly budget is spent, until the clock hour is over', async () => {
      now = (hourIndex + 1) * HOUR_MS + (HOUR_MS - 30_000);
      const budget = { minIntervalSeconds: 0, hourlyBudget: 3 };
      for (let i = 0; i < 3; i++) expect(await limits.reserveSend(phone(), budget)).toMatchObject({ allowed: true });
      const spent = await limits.reserveSend(phone(), budget);
      expect(spent).toEqual({ allowed: false, limit: 'hourly-budget', retryAfterSeconds: 30 });
      now += 30_000;
      expect(await limits.reserveSend(phone(), budget)).toMatchObject({ allowed: true });
    });

    it('counts concurrent guesses atomically: exactly the budget gets through', async () => {
      const p = phone();
      const results = await Promise.all(Array.from({ length: 25 }, () => limits.reserveCheck(p, guesses)));
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
      const refused = results.find((r) => !r.allowed);
      expect(refused && !refused.allowed ? refused.retryAfterSeconds : 0).toBeGreaterThan(3_500);
    });

    it('gives back checks that were no guess, and forgets guesses after a login', async () => {
      const p = phone();
      for (let i = 0; i < 10; i++) {
        expect(await limits.reserveCheck(p, guesses)).toEqual({ allowed: true });
        await limits.releaseCheck(p);
      }
      for (let i = 0; i < 10; i++) expect(await limits.reserveCheck(p, guesses)).toEqual({ allowed: true });
      expect(await limits.reserveCheck(p, guesses)).toMatchObject({ allowed: false });
      await limits.resetChecks(p);
      expect(await limits.reserveCheck(p, guesses)).toEqual({ allowed: true });
    });
  });
}

// Far-apart hours: the Redis suite's budget keys cannot collide with a real hour's.
limitsSuite('RedisVerificationLimits', (now) => new RedisVerificationLimits(redis, now), 1_000);
limitsSuite('MemoryVerificationLimits', (now) => new MemoryVerificationLimits(now), 2_000);

describe('MemoryVerificationLimits over time', () => {
  it('unlocks a number when its guessing window is over, and allows the next code after the interval', async () => {
    let now = 0;
    const limits = new MemoryVerificationLimits(() => now);
    for (let i = 0; i < 10; i++) await limits.reserveCheck('+14155550000', guesses);
    expect(await limits.reserveCheck('+14155550000', guesses)).toEqual({ allowed: false, retryAfterSeconds: 3_600 });
    now = 3_600_000;
    expect(await limits.reserveCheck('+14155550000', guesses)).toEqual({ allowed: true });
    await limits.reserveSend('+14155550000', policy);
    now += 59_000;
    expect(await limits.reserveSend('+14155550000', policy)).toEqual({ allowed: false, limit: 'min-interval', retryAfterSeconds: 1 });
    now += 1_000;
    expect(await limits.reserveSend('+14155550000', policy)).toMatchObject({ allowed: true });
  });
});

describe('RedisVerificationLimits over time', () => {
  it('allows the next code once the minimum interval has passed', async () => {
    const limits = new RedisVerificationLimits(redis);
    const p = phone();
    const short = { minIntervalSeconds: 1, hourlyBudget: 1_000 };
    expect(await limits.reserveSend(p, short)).toMatchObject({ allowed: true });
    expect(await limits.reserveSend(p, short)).toEqual({ allowed: false, limit: 'min-interval', retryAfterSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1_050));
    expect(await limits.reserveSend(p, short)).toMatchObject({ allowed: true });
  });

  it('sets a TTL on every key it writes', async () => {
    const limits = new RedisVerificationLimits(redis);
    const p = phone();
    await limits.reserveSend(p, policy);
    await limits.reserveCheck(p, guesses);
    await limits.releaseCheck(p);
    await limits.releaseCheck(p);
    await new RedisVerificationLog(redis).recordApproval(p, 'hash', 600);
    const written = await raw.keys(`${prefix}*`);
    expect(written.length).toBeGreaterThan(3);
    for (const key of written) expect(await raw.pttl(key), key).toBeGreaterThan(0);
  });

  it('answers STORE_UNAVAILABLE at once when Redis cannot be reached', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    await expect(new RedisVerificationLimits(dead).reserveSend('+14155550000', policy)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(new RedisVerificationLimits(dead).reserveCheck('+14155550000', guesses)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    dead.disconnect();
  });
});

function approvalSuite(name: string, log: VerificationLog) {
  describe(name, () => {
    const pair = (n: number) => ({ access_token: `a${n}`, refresh_token: `r${n}`, token_type: 'Bearer' as const });

    it('lets one check of a code at a time run, keeps its approval until tokens were issued, then knows the code as used', async () => {
      const p = phone();
      await log.recordSent(p, 600);
      expect(await log.lastCode(p)).toBe('sent');
      expect(await log.claimCode(p, 'h1', 5_000)).toEqual({ state: 'claimed', approved: false, otherCodeKept: false });
      // Held: by this code only, on this number only.
      expect(await log.claimCode(p, 'h1', 5_000)).toEqual({ state: 'busy' });
      expect(await log.claimCode(p, 'h2', 5_000)).toMatchObject({ state: 'claimed' });
      expect(await log.claimCode(phone(), 'h1', 5_000)).toMatchObject({ state: 'claimed' });
      // Twilio approved, tokens could not be issued: the retry claims it, once, and knows it is approved.
      await log.recordApproval(p, 'h1', 600);
      await log.releaseClaim(p, 'h1');
      const claims = await Promise.all([log.claimCode(p, 'h1', 5_000), log.claimCode(p, 'h1', 5_000), log.claimCode(p, 'h1', 5_000)]);
      expect(claims.map((c) => c.state).sort()).toEqual(['busy', 'busy', 'claimed']);
      expect(claims.find((c) => c.state === 'claimed')).toEqual({ state: 'claimed', approved: true, otherCodeKept: false });
      await log.markUsed(p, 'h1', 600);
      expect(await log.claimCode(p, 'h1', 5_000)).toEqual({ state: 'claimed', approved: false, otherCodeKept: false });
      expect(await log.lastCode(p)).toBe('used');
      expect(await log.wasSent(p)).toBe(true);
      await log.recordSent(p, 600);
      expect(await log.lastCode(p)).toBe('sent');
      expect(await log.lastCode(phone())).toBeUndefined();
    });

    it('keeps the issued pair for a retry of the same code, for its keep time only; another code only learns that one is kept', async () => {
      const p = phone();
      expect(await log.claimCode(p, 'h1', 5_000)).toMatchObject({ state: 'claimed' });
      await log.recordApproval(p, 'h1', 600);
      await log.markUsed(p, 'h1', 600, { pair: pair(1), issuedAt: 1_234, keepSeconds: 2 });
      expect(await log.claimCode(p, 'h1', 5_000)).toEqual({ state: 'issued', pair: pair(1), issuedAt: 1_234 });
      expect(await log.claimCode(p, 'h2', 5_000)).toEqual({ state: 'claimed', approved: false, otherCodeKept: true });
      await new Promise((r) => setTimeout(r, 2_100));
      expect(await log.claimCode(p, 'h1', 5_000)).toEqual({ state: 'claimed', approved: false, otherCodeKept: false });
    });

    it('frees the claim of a check that died once its time is over', async () => {
      const p = phone();
      // (That it is held until then is shown above, with claims that outlive the test.)
      expect(await log.claimCode(p, 'h1', 300)).toMatchObject({ state: 'claimed' });
      await new Promise((r) => setTimeout(r, 400));
      expect(await log.claimCode(p, 'h1', 5_000)).toMatchObject({ state: 'claimed' });
    });
  });
}

approvalSuite('RedisVerificationLog approvals', new RedisVerificationLog(redis));
approvalSuite('MemoryVerificationLog approvals', new MemoryVerificationLog());
