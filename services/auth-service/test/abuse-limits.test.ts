// The abuse limits of auth-service, over the in-process bus, with the real Redis stores and the
// real twilio SDK against the Twilio Verify emulator.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '@repo/bus';
import { AppError, AuthSubjects } from '@repo/contracts';
import { ConfigError, createRedis, JwtEnv, parseEnv, waitForRedis } from '@repo/runtime';
import {
  MemorySessionStore,
  MemoryVerificationLimits,
  RedisVerificationLimits,
  RedisVerificationLog,
  type CodeClaim,
  type IssuedPair,
  type VerificationLimits,
  type VerificationLog,
} from '@repo/stores';
import { buildTokenService } from '@repo/token-service';
import { startTwilioVerifyEmulator } from '@repo/twilio-verify-emulator';
import { AuthEnv, buildAuthService } from '../src/app.ts';
import { EMULATOR_CREDENTIALS, resolveAuthSettings } from '../src/config.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `test:auth:${randomUUID()}:`;
const quiet = { warn: () => {}, info: () => {} };
// Made the way the services make theirs (fail fast, no offline queue).
const raw = createRedis(REDIS_URL, '', quiet);
const clients: Array<typeof raw> = [];
let emulator: Awaited<ReturnType<typeof startTwilioVerifyEmulator>>;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  await waitForRedis(raw);
  emulator = await startTwilioVerifyEmulator({ credentials: { accountSid: EMULATOR_CREDENTIALS.accountSid, authToken: EMULATOR_CREDENTIALS.authToken } });
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await emulator.close();
  const left = await raw.keys(`${prefix}*`);
  if (left.length) await raw.del(...left);
  for (const c of clients) c.disconnect();
  raw.disconnect();
});

let n = 0;
/** A number no other test uses (the emulator keeps codes per number). */
const newPhone = () => `+1415555${1000 + ++n}`;

// token-service's settings read from env as its process reads them.
const jwt = parseEnv(Type.Object(JwtEnv), {
  JWT_PRIVATE_KEYS: JSON.stringify({ keys: [generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })] }),
});

/** token-service on the bus, as the other side of `token.pair.issue`. */
async function startTokenService(bus: InProcessBus) {
  const tokens = await buildTokenService({ jwt, bus, sessions: new MemorySessionStore() });
  await tokens.ready();
  return tokens;
}

interface StartOptions {
  env?: NodeJS.ProcessEnv;
  withTokenService?: boolean;
  now?: () => number;
  /** Default: the Redis store. */
  limits?: VerificationLimits;
  /** Default: the Redis log, in the service's namespace. */
  log?: VerificationLog;
}

/** auth-service configured from env as in production, on its own bus and its own Redis namespace. */
/** A Redis client of its own namespace, made the way the services make theirs. */
async function namespacedRedis() {
  const redis = createRedis(REDIS_URL, `${prefix}${randomUUID()}:`, quiet);
  clients.push(redis);
  await waitForRedis(redis);
  return redis;
}

async function startAuth({ env = {}, withTokenService = true, now, limits, log }: StartOptions = {}) {
  const bus = new InProcessBus(5_000);
  const redis = await namespacedRedis();
  const settings = resolveAuthSettings(parseEnv(AuthEnv, { TWILIO_VERIFY_BASE_URL: emulator.url, ...env }));
  const auth = await buildAuthService({ settings, bus, verificationLog: log ?? new RedisVerificationLog(redis), limits: limits ?? new RedisVerificationLimits(redis, now) });
  await auth.ready();
  closers.push(() => auth.close());
  if (withTokenService) closers.push(await startTokenService(bus).then((t) => () => t.close()));
  const send = (phone_number: string) => bus.request(AuthSubjects.sendVerification, { phone_number, channel: 'sms' });
  const check = (phone_number: string, code: string) => bus.request(AuthSubjects.checkVerification, { phone_number, code });
  return { bus, send, check };
}

async function outboxCode(phone: string): Promise<string> {
  const res = await fetch(`${emulator.url}/outbox?to=${encodeURIComponent(phone)}`);
  const last = ((await res.json()) as { messages: Array<{ code: string }> }).messages.at(-1);
  if (!last) throw new Error(`no code was sent to ${phone}`);
  return last.code;
}

async function advanceTwilioClock(seconds: number): Promise<void> {
  const res = await fetch(`${emulator.url}/_emulator/clock/advance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ seconds }),
  });
  if (!res.ok) throw new Error(`could not advance the emulator clock: ${res.status}`);
}

const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected the request to fail');
}

describe('minimum interval between codes to one number', () => {
  it('refuses a second code within SMS_MIN_INTERVAL_SECONDS (default 60) with VERIFICATION_SEND_TOO_SOON and a retry time', async () => {
    const auth = await startAuth();
    const phone = newPhone();
    expect(await auth.send(phone)).toEqual({ status: 'pending' });
    const err = await failure(auth.send(phone));
    expect(err).toMatchObject({ code: 'VERIFICATION_SEND_TOO_SOON', statusCode: 429 });
    expect(err.retryAfter).toBeGreaterThan(55);
    expect(err.retryAfter).toBeLessThanOrEqual(60);
    expect(await auth.send(newPhone())).toEqual({ status: 'pending' });
  });

  it('holds a number back when its code went out, even if recording it failed (the record is written while Twilio sends)', async () => {
    const log = new HookedLog(await namespacedRedis());
    log.failRecordSent = true;
    const auth = await startAuth({ log });
    const phone = newPhone();
    expect(await failure(auth.send(phone))).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(await outboxCode(phone)).toMatch(/^\d+$/);
    log.failRecordSent = false;
    expect(await failure(auth.send(phone))).toMatchObject({ code: 'VERIFICATION_SEND_TOO_SOON' });
  });

  it('does not hold a number back when its code never went out', async () => {
    const auth = await startAuth({ env: { TWILIO_VERIFY_BASE_URL: 'http://127.0.0.1:1', TWILIO_TIMEOUT_MS: '1000' } });
    const phone = newPhone();
    expect(await failure(auth.send(phone))).toMatchObject({ code: 'VERIFICATION_PROVIDER_UNAVAILABLE' });
    expect(await failure(auth.send(phone))).toMatchObject({ code: 'VERIFICATION_PROVIDER_UNAVAILABLE' });
  });
});

describe('global hourly budget of codes', () => {
  it('stops sending to every number once SMS_HOURLY_BUDGET codes went out this hour', async () => {
    // A fixed clock 20 minutes into an hour: the budget resets in 40 minutes.
    const now = 500_000 * 3_600_000 + 20 * 60_000;
    const auth = await startAuth({ env: { SMS_HOURLY_BUDGET: '3' }, now: () => now });
    for (let i = 0; i < 3; i++) expect(await auth.send(newPhone())).toEqual({ status: 'pending' });
    const err = await failure(auth.send(newPhone()));
    expect(err).toMatchObject({ code: 'VERIFICATION_BUDGET_EXHAUSTED', statusCode: 429, retryAfter: 40 * 60 });
  });
});

describe('allowed destination countries', () => {
  it('sends only to SMS_ALLOWED_COUNTRIES, telling +1 countries apart', async () => {
    const auth = await startAuth({ env: { SMS_ALLOWED_COUNTRIES: 'us, CA' } });
    expect(await auth.send(newPhone())).toEqual({ status: 'pending' });
    expect(await auth.send('+16135550123')).toEqual({ status: 'pending' }); // Ottawa
    for (const [phone, country] of [
      ['+442079460958', 'GB'],
      ['+18762345678', 'JM'], // +1 876: Jamaica, a classic SMS-pumping destination
    ] as const) {
      const err = await failure(auth.send(phone));
      expect(err, phone).toMatchObject({ code: 'PHONE_COUNTRY_NOT_ALLOWED', statusCode: 400 });
      expect(err.message).toContain(country);
    }
    const outbox = await fetch(`${emulator.url}/outbox?to=${encodeURIComponent('+442079460958')}`).then((r) => r.json());
    expect(outbox).toEqual({ messages: [] });
  });

  it('refuses an unknown country code at start with one line', () => {
    expect(() => resolveAuthSettings(parseEnv(AuthEnv, { SMS_ALLOWED_COUNTRIES: 'US,XX' }))).toThrow(ConfigError);
    expect(() => resolveAuthSettings(parseEnv(AuthEnv, { SMS_ALLOWED_COUNTRIES: 'US,XX' }))).toThrow(/^SMS_ALLOWED_COUNTRIES is invalid at "XX"/);
  });
});

describe('wrong codes per number, across codes', () => {
  it('locks the number after VERIFICATION_MAX_WRONG_CODES (default 10) wrong codes; a new code does not reset the count', async () => {
    const auth = await startAuth({ env: { SMS_MIN_INTERVAL_SECONDS: '0' } });
    const phone = newPhone();
    // Twilio allows 5 checks per code, then the code is dead until it expires (10 minutes); the
    // attacker then asks for a new one.
    for (let round = 0; round < 2; round++) {
      await auth.send(phone);
      const code = await outboxCode(phone);
      for (let i = 0; i < 5; i++) expect(await failure(auth.check(phone, wrongFor(code)))).toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
      await advanceTwilioClock(601);
    }
    await auth.send(phone);
    const code = await outboxCode(phone);
    // Even the right code is refused until the hour is over.
    const locked = await failure(auth.check(phone, code));
    expect(locked).toMatchObject({ code: 'VERIFICATION_LOCKED', statusCode: 429 });
    expect(locked.retryAfter).toBeGreaterThan(3_500);
    expect(locked.retryAfter).toBeLessThanOrEqual(3_600);
  });

  it('leaves the code free when the lockout refuses its check (the claim asked for with the guess is given back)', async () => {
    const redis = await namespacedRedis();
    const auth = await startAuth({ log: new RedisVerificationLog(redis), env: { VERIFICATION_MAX_WRONG_CODES: '1' } });
    const phone = newPhone();
    await auth.send(phone);
    const code = await outboxCode(phone);
    expect(await failure(auth.check(phone, wrongFor(code)))).toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
    expect(await failure(auth.check(phone, code))).toMatchObject({ code: 'VERIFICATION_LOCKED' });
    expect(await raw.keys(`${redis.options.keyPrefix}verification-claim:*`)).toEqual([]);
  });

  it('lets concurrent guesses through only up to the budget', async () => {
    const auth = await startAuth({ env: { SMS_MIN_INTERVAL_SECONDS: '0' } });
    const phone = newPhone();
    await auth.send(phone);
    const code = await outboxCode(phone);
    const results = await Promise.all(Array.from({ length: 20 }, () => failure(auth.check(phone, wrongFor(code)))));
    const count = (code: string) => results.filter((e) => e.code === code).length;
    // 10 get past our budget: Twilio takes 5 wrong ones and refuses the rest of them.
    expect(count('VERIFICATION_LOCKED')).toBe(10);
    expect(count('INVALID_VERIFICATION_CODE')).toBe(5);
    expect(count('VERIFICATION_MAX_ATTEMPTS')).toBe(5);
  });

  it('does not count checks that were no guess, and forgets the wrong ones after a login', async () => {
    const auth = await startAuth({ env: { VERIFICATION_MAX_WRONG_CODES: '3' } });
    const phone = newPhone();
    // Nothing pending: no guess.
    for (let i = 0; i < 5; i++) expect(await failure(auth.check(phone, '123456'))).toMatchObject({ code: 'VERIFICATION_NOT_FOUND' });
    await auth.send(phone);
    const code = await outboxCode(phone);
    for (let i = 0; i < 2; i++) await failure(auth.check(phone, wrongFor(code)));
    expect((await auth.check(phone, code)).phone_number).toBe(phone);
    // The two wrong ones are forgotten: three more are allowed before the lock.
    for (let i = 0; i < 3; i++) expect(await failure(auth.check(phone, '123456'))).toMatchObject({ code: 'VERIFICATION_ALREADY_USED' });
  });
});

describe('test phone numbers', () => {
  it("get Twilio's 5 checks per code and the same lockout as real numbers; their code is compared in full", async () => {
    let now = 1_000_000_000_000;
    const auth = await startAuth({ env: { TEST_PHONE_NUMBERS: '+15005550006:246810' }, limits: new MemoryVerificationLimits(() => now) });
    expect(await auth.send('+15005550006')).toEqual({ status: 'pending' });
    for (const wrong of ['24681', '2468100', '246811', '000000', '135791']) {
      expect(await failure(auth.check('+15005550006', wrong)), wrong).toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
    }
    expect(await failure(auth.check('+15005550006', '246810'))).toMatchObject({ code: 'VERIFICATION_MAX_ATTEMPTS', statusCode: 429, retryAfter: 600 });
    // Ten minutes later the code takes 5 more guesses; that makes 10 for the hour.
    now += 600_000;
    for (const wrong of ['246800', '246801', '246802', '246803', '246804']) {
      expect(await failure(auth.check('+15005550006', wrong)), wrong).toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
    }
    expect(await failure(auth.check('+15005550006', '246810'))).toMatchObject({ code: 'VERIFICATION_LOCKED', statusCode: 429, retryAfter: 3_000 });
    now += 3_000_000;
    expect((await auth.check('+15005550006', '246810')).phone_number).toBe('+15005550006');
  });

  it('log in with their fixed code', async () => {
    const auth = await startAuth({ env: { TEST_PHONE_NUMBERS: '+15005550006:246810' } });
    expect((await auth.check('+15005550006', '246810')).tokens.token_type).toBe('Bearer');
  });
});

describe('a code approved by Twilio whose tokens could not be issued', () => {
  it('is not lost: the retry with the same code issues tokens without Twilio; after that the same code gets the same pair, another is VERIFICATION_ALREADY_USED', async () => {
    const auth = await startAuth({ withTokenService: false });
    const phone = newPhone();
    await auth.send(phone);
    const code = await outboxCode(phone);
    // token-service is down: Twilio approved the code (and spent it), but no tokens.
    expect(await failure(auth.check(phone, code))).toMatchObject({ code: 'SERVICE_UNAVAILABLE', statusCode: 503 });
    const tokens = await startTokenService(auth.bus);
    try {
      const result = await auth.check(phone, code);
      expect(result.phone_number).toBe(phone);
      expect(result.tokens.token_type).toBe('Bearer');
      // Traded: the same code again gets the same pair (its answer may have been lost); any other
      // code is "already used" (409), not "expired" (410).
      expect(await auth.check(phone, code)).toEqual(result);
      expect(await failure(auth.check(phone, wrongFor(code)))).toMatchObject({ code: 'VERIFICATION_ALREADY_USED', statusCode: 409 });
    } finally {
      await tokens.close();
    }
  });

  it('does not let a wrong code ride on the approval', async () => {
    const auth = await startAuth({ withTokenService: false });
    const phone = newPhone();
    await auth.send(phone);
    const code = await outboxCode(phone);
    await failure(auth.check(phone, code));
    closers.push(await startTokenService(auth.bus).then((t) => () => t.close()));
    expect(await failure(auth.check(phone, wrongFor(code)))).toMatchObject({ code: 'VERIFICATION_EXPIRED' });
    expect((await auth.check(phone, code)).phone_number).toBe(phone);
  });
});

describe('one code checked many times at once', () => {
  it('logs in exactly once; the others are told the code is used', async () => {
    const auth = await startAuth();
    const phone = newPhone();
    await auth.send(phone);
    const code = await outboxCode(phone);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => auth.check(phone, code)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refusals = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as AppError).code] : []));
    expect(refusals).toEqual(Array.from({ length: 9 }, () => 'VERIFICATION_ALREADY_USED'));
  });

  it('answers VERIFICATION_ALREADY_USED, not expired, also when the winner records its approval late', async () => {
    const log = new HookedLog(await namespacedRedis());
    const auth = await startAuth({ log });
    const phone = newPhone();
    await auth.send(phone);
    const code = await outboxCode(phone);
    // The check Twilio approves records it only once the 9 others are either done (had they asked
    // Twilio, it answered them "nothing pending" meanwhile) or waiting on it.
    let parked = 0;
    let allParked!: () => void;
    const losersParked = new Promise<void>((resolve) => (allParked = resolve));
    const park = () => {
      if (++parked === 9) allParked();
    };
    log.onBusy = park;
    log.beforeApproval = async () => {
      log.beforeApproval = undefined;
      await losersParked;
    };
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => auth.check(phone, code).finally(park)));
    log.onBusy = undefined;
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refusals = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as AppError).code] : []));
    expect(refusals).toEqual(Array.from({ length: 9 }, () => 'VERIFICATION_ALREADY_USED'));
  });
});

/** The Redis verification log, with hooks to fail or hold up its writes and to watch claims. */
class HookedLog extends RedisVerificationLog {
  around: ((markUsed: () => Promise<void>, issued: IssuedPair | undefined) => Promise<void>) | undefined;
  beforeApproval: (() => Promise<void>) | undefined;
  onBusy: (() => void) | undefined;
  failRecordSent = false;

  override async recordSent(phone: string, ttlSeconds: number): Promise<void> {
    if (this.failRecordSent) throw new AppError('STORE_UNAVAILABLE', undefined, { retryAfter: 1 });
    return super.recordSent(phone, ttlSeconds);
  }

  override markUsed(phone: string, codeHash: string, ttlSeconds: number, issued?: IssuedPair): Promise<void> {
    const markUsed = () => super.markUsed(phone, codeHash, ttlSeconds, issued);
    return this.around ? this.around(markUsed, issued) : markUsed();
  }

  override async recordApproval(phone: string, codeHash: string, ttlSeconds: number): Promise<void> {
    await this.beforeApproval?.();
    return super.recordApproval(phone, codeHash, ttlSeconds);
  }

  override async claimCode(phone: string, codeHash: string, claimMs: number): Promise<CodeClaim> {
    const claim = await super.claimCode(phone, codeHash, claimMs);
    if (claim.state === 'busy') this.onBusy?.();
    return claim;
  }
}

describe('a code whose tokens were issued but whose answer did not get through', () => {
  it('is not lost when the code cannot be marked used: the retry logs in, not 409', async () => {
    const log = new HookedLog(await namespacedRedis());
    const auth = await startAuth({ log });
    const phone = newPhone();
    await auth.send(phone);
    const code = await outboxCode(phone);
    log.around = async () => {
      log.around = undefined;
      throw new AppError('STORE_UNAVAILABLE', undefined, { retryAfter: 1 });
    };
    expect(await failure(auth.check(phone, code))).toMatchObject({ code: 'STORE_UNAVAILABLE', statusCode: 503 });
    // Its approval is still on record and the failed check freed the code: tokens, not 409.
    expect((await auth.check(phone, code)).phone_number).toBe(phone);
  });

  it('gives a retry of the same code the same pair, for a short while; other codes meanwhile are guesses', async () => {
    const log = new HookedLog(await namespacedRedis());
    const auth = await startAuth({ log, env: { VERIFICATION_MAX_WRONG_CODES: '2' } });
    const phone = newPhone();
    await auth.send(phone);
    const code = await outboxCode(phone);
    // The first check's answer is held up after its tokens were issued and recorded, as if the
    // reply to the gateway were lost; the client sends the code again.
    let issued: IssuedPair | undefined;
    let recorded!: () => void;
    const wasRecorded = new Promise<void>((resolve) => (recorded = resolve));
    let deliver!: () => void;
    const delivered = new Promise<void>((resolve) => (deliver = resolve));
    log.around = async (markUsed, pair) => {
      log.around = undefined;
      await markUsed();
      issued = pair;
      recorded();
      await delivered;
    };
    const first = auth.check(phone, code);
    await wasRecorded;
    const retried = await auth.check(phone, code);
    deliver();
    expect(retried.tokens).toEqual(issued?.pair);
    expect(await first).toEqual(retried);
    // The kept pair is for that code only; guessing at it spends the number's wrong-code budget.
    for (let i = 0; i < 2; i++) expect(await failure(auth.check(phone, wrongFor(code)))).toMatchObject({ code: 'VERIFICATION_ALREADY_USED' });
    expect(await failure(auth.check(phone, code))).toMatchObject({ code: 'VERIFICATION_LOCKED' });
  });
});

describe('messages on the bus', () => {
  it('are re-validated by auth-service, whoever sent them', async () => {
    const auth = await startAuth();
    const bad = [
      { phone_number: '14155552671', code: '123456' },
      { phone_number: '+1 415 555 2671', code: '123456' },
      { phone_number: '+14155552671', code: '12' },
      { phone_number: '+14155552671', code: '1234567890123' },
    ];
    for (const payload of bad) {
      expect(await failure(auth.bus.request(AuthSubjects.checkVerification, payload)), JSON.stringify(payload)).toMatchObject({ code: 'VALIDATION_ERROR' });
    }
  });
});
