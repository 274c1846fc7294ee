import { generateKeyPairSync } from 'node:crypto';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '@repo/bus';
import { AuthSubjects } from '@repo/contracts';
import { ConfigError } from '@repo/runtime';
import { MemorySessionStore, MemoryVerificationLimits, MemoryVerificationLog } from '@repo/stores';
import { buildTokenService } from '@repo/token-service';
import { startTwilioVerifyEmulator } from '@repo/twilio-verify-emulator';
import { BaseUrlRequestClient } from '../src/twilio-base-url.ts';
import { buildAuthService } from '../src/app.ts';
import { EMULATOR_CREDENTIALS, parseTestPhoneNumbers, resolveAuthSettings } from '../src/config.ts';
import { mapTwilioError } from '../src/twilio-verify.ts';

const jwt = {
  JWT_PRIVATE_KEYS: JSON.stringify({ keys: [generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })] }),
  JWT_ISSUER: 'i',
  JWT_AUDIENCE: 'a',
  JWT_CLOCK_TOLERANCE_SECONDS: 5,
  ACCESS_TOKEN_TTL_SECONDS: 600,
  REFRESH_TOKEN_TTL_SECONDS: 3600,
  REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: 10,
};
const baseEnv = { NODE_ENV: 'development' as const, TWILIO_TIMEOUT_MS: 2_000, ALLOW_TEST_PHONE_NUMBERS_IN_PRODUCTION: false };
// The abuse limits at their defaults but the minimum interval: these tests resend to one number.
const authEnv = { ...baseEnv, SMS_MIN_INTERVAL_SECONDS: 0, SMS_HOURLY_BUDGET: 1_000, VERIFICATION_MAX_WRONG_CODES: 10, VERIFICATION_LOCKOUT_SECONDS: 3_600 };

function restException(status: number, code: number, message = 'x') {
  return new twilio.RestException({ statusCode: status, body: JSON.stringify({ code, message, status }) });
}

describe('mapTwilioError', () => {
  it.each([
    [400, 60200, 'Invalid parameter `To`: +1', 'INVALID_PHONE_NUMBER', 400],
    [400, 60200, 'Invalid parameter `Channel`', 'INVALID_VERIFICATION_REQUEST', 400],
    [429, 60202, 'Max check attempts reached', 'VERIFICATION_MAX_ATTEMPTS', 429],
    [429, 60203, 'Max send attempts reached', 'VERIFICATION_SEND_LIMIT', 429],
    [403, 60205, 'SMS is not supported by landline phone number', 'PHONE_NUMBER_CANNOT_RECEIVE_SMS', 400],
    [429, 60212, 'Too many concurrent requests for phone number', 'VERIFICATION_CONCURRENT_REQUESTS', 429],
    [403, 60410, 'Verification delivery attempt blocked', 'PHONE_NUMBER_BLOCKED', 403],
    [403, 60605, 'Verification delivery attempt blocked', 'PHONE_COUNTRY_NOT_ALLOWED', 400],
    [429, 20429, 'Too many requests', 'RATE_LIMITED', 429],
    [401, 20003, 'Authenticate', 'VERIFICATION_PROVIDER_ERROR', 502],
    [503, 20500, 'Internal', 'VERIFICATION_PROVIDER_UNAVAILABLE', 503],
  ])('maps HTTP %i / Twilio %i to our code', (status, code, message, ours, ourStatus) => {
    const err = mapTwilioError(restException(status, code, message));
    expect(err.code).toBe(ours);
    expect(err.statusCode).toBe(ourStatus);
  });

  it('gives every 429 a retry-after', () => {
    for (const [status, code] of [
      [429, 60202],
      [429, 60203],
      [429, 60212],
      [429, 20429],
    ] as const) {
      const err = mapTwilioError(restException(status, code));
      expect(err.statusCode).toBe(429);
      expect(err.retryAfter, `Twilio ${code}`).toBeGreaterThan(0);
    }
    expect(mapTwilioError(restException(429, 60202)).retryAfter).toBe(600);
  });

  it('maps a network failure to VERIFICATION_PROVIDER_UNAVAILABLE', () => {
    expect(mapTwilioError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).code).toBe('VERIFICATION_PROVIDER_UNAVAILABLE');
  });
});

describe('configuration', () => {
  it('parses and normalises test phone numbers', () => {
    expect(parseTestPhoneNumbers('+1 500 555 0006:123456, +15005550007:00000000')).toEqual(
      new Map([
        ['+15005550006', '123456'],
        ['+15005550007', '00000000'],
      ]),
    );
    expect(() => parseTestPhoneNumbers('+15005550006')).toThrow(ConfigError);
    expect(() => parseTestPhoneNumbers('12:123456')).toThrow(/TEST_PHONE_NUMBERS is invalid/);
    // Short fixed codes are guessable: refused with one line naming the number.
    expect(() => parseTestPhoneNumbers('+15005550006:1234')).toThrow('TEST_PHONE_NUMBERS: the code of +15005550006 has 4 digits; test codes need 6-10 digits so they cannot be guessed');
  });

  it('refuses test numbers in production unless explicitly allowed', () => {
    const prod = {
      ...authEnv,
      NODE_ENV: 'production' as const,
      TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'token',
      TWILIO_VERIFY_SERVICE_SID: `VA${'2'.repeat(32)}`,
      TEST_PHONE_NUMBERS: '+15005550006:123456',
    };
    expect(() => resolveAuthSettings(prod)).toThrow(/ALLOW_TEST_PHONE_NUMBERS_IN_PRODUCTION/);
    expect(resolveAuthSettings({ ...prod, ALLOW_TEST_PHONE_NUMBERS_IN_PRODUCTION: true }).testPhoneNumbers.size).toBe(1);
  });

  it('wants all three Twilio credentials or none, and real ones in production', () => {
    expect(() => resolveAuthSettings({ ...authEnv, TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}` })).toThrow(/must be set together/);
    expect(() => resolveAuthSettings({ ...authEnv, NODE_ENV: 'production' })).toThrow(/required when NODE_ENV=production/);
    expect(resolveAuthSettings(authEnv).usesEmulator).toBe(true);
  });
});

describe('auth-service with the twilio SDK against the emulator', () => {
  const bus = new InProcessBus();
  let emulator: Awaited<ReturnType<typeof startTwilioVerifyEmulator>>;
  let close: () => Promise<void>;

  beforeAll(async () => {
    emulator = await startTwilioVerifyEmulator({ credentials: { accountSid: EMULATOR_CREDENTIALS.accountSid, authToken: EMULATOR_CREDENTIALS.authToken } });
    const settings = resolveAuthSettings({ ...authEnv, TWILIO_VERIFY_BASE_URL: emulator.url, TEST_PHONE_NUMBERS: '+15005550006:123456' });
    const tokens = await buildTokenService({ jwt, bus, sessions: new MemorySessionStore() });
    const auth = await buildAuthService({ settings, bus, verificationLog: new MemoryVerificationLog(), limits: new MemoryVerificationLimits() });
    await tokens.ready();
    await auth.ready();
    close = async () => {
      await auth.close();
      await tokens.close();
      await emulator.close();
    };
  });
  afterAll(() => close());

  async function outboxCode(phone: string): Promise<string> {
    const res = await fetch(`${emulator.url}/outbox?to=${encodeURIComponent(phone)}`);
    return ((await res.json()) as { messages: Array<{ code: string }> }).messages.at(-1)!.code;
  }

  it('sends a code through Twilio Verify and trades it for tokens', async () => {
    const phone = '+14155550101';
    expect(await bus.request(AuthSubjects.sendVerification, { phone_number: phone, channel: 'sms' })).toEqual({ status: 'pending' });
    const result = await bus.request(AuthSubjects.checkVerification, { phone_number: phone, code: await outboxCode(phone) });
    expect(result.phone_number).toBe(phone);
    expect(result.tokens.token_type).toBe('Bearer');
    // The code is spent: Twilio has nothing pending, and we know it was used, not expired.
    await expect(bus.request(AuthSubjects.checkVerification, { phone_number: phone, code: '123456' })).rejects.toMatchObject({
      code: 'VERIFICATION_ALREADY_USED',
      statusCode: 409,
    });
  });

  it('answers a wrong code with INVALID_VERIFICATION_CODE', async () => {
    const phone = '+14155550102';
    await bus.request(AuthSubjects.sendVerification, { phone_number: phone, channel: 'sms' });
    const code = await outboxCode(phone);
    await expect(bus.request(AuthSubjects.checkVerification, { phone_number: phone, code: code === '999999' ? '111111' : '999999' })).rejects.toMatchObject({
      code: 'INVALID_VERIFICATION_CODE',
      statusCode: 401,
    });
  });

  it('maps too many sends to VERIFICATION_SEND_LIMIT', async () => {
    const phone = '+14155550103';
    for (let i = 0; i < 5; i++) await bus.request(AuthSubjects.sendVerification, { phone_number: phone, channel: 'sms' });
    await expect(bus.request(AuthSubjects.sendVerification, { phone_number: phone, channel: 'sms' })).rejects.toMatchObject({
      code: 'VERIFICATION_SEND_LIMIT',
      statusCode: 429,
    });
  });

  async function failNext(failure: { code: number; operation: 'send' | 'check'; to: string }): Promise<void> {
    const res = await fetch(`${emulator.url}/_emulator/failures`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(failure),
    });
    expect(res.status).toBe(204);
  }

  const wrongFor = (code: string) => (code === '999999' ? '111111' : '999999');
  const check = (phone: string, code: string) => bus.request(AuthSubjects.checkVerification, { phone_number: phone, code });
  const send = (phone: string) => bus.request(AuthSubjects.sendVerification, { phone_number: phone, channel: 'sms' });

  it('answers VERIFICATION_MAX_ATTEMPTS after five wrong codes, also once Twilio deleted the verification', async () => {
    const phone = '+14155550111';
    await send(phone);
    const code = await outboxCode(phone);
    for (let i = 0; i < 5; i++) await expect(check(phone, wrongFor(code))).rejects.toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
    // The sixth check: Twilio's 60202, after which it deletes the verification and answers 20404.
    await expect(check(phone, code)).rejects.toMatchObject({ code: 'VERIFICATION_MAX_ATTEMPTS', statusCode: 429, retryAfter: 600 });
    await expect(check(phone, code)).rejects.toMatchObject({ code: 'VERIFICATION_MAX_ATTEMPTS', statusCode: 429, retryAfter: 600 });
    // A new code starts a new verification and a new count.
    await send(phone);
    const fresh = await outboxCode(phone);
    await expect(check(phone, wrongFor(fresh))).rejects.toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
    expect((await check(phone, fresh)).phone_number).toBe(phone);
  });

  it('tells an expired code from one that was never sent, and a resend keeps the count of wrong codes', async () => {
    const phone = '+14155550112';
    await expect(check(phone, '123456')).rejects.toMatchObject({ code: 'VERIFICATION_NOT_FOUND', statusCode: 404 });
    await send(phone);
    const code = await outboxCode(phone);
    for (let i = 0; i < 3; i++) await expect(check(phone, wrongFor(code))).rejects.toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
    // A resend within the code's life is the same verification at Twilio, with the same checks left.
    await send(phone);
    expect(await outboxCode(phone)).toBe(code);
    for (let i = 0; i < 2; i++) await expect(check(phone, wrongFor(code))).rejects.toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
    await expect(check(phone, code)).rejects.toMatchObject({ code: 'VERIFICATION_MAX_ATTEMPTS' });

    const other = '+14155550113';
    await send(other);
    const otherCode = await outboxCode(other);
    await expect(check(other, wrongFor(otherCode))).rejects.toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
    const res = await fetch(`${emulator.url}/_emulator/clock/advance`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ seconds: 601 }) });
    expect(res.status).toBe(200);
    await expect(check(other, otherCode)).rejects.toMatchObject({ code: 'VERIFICATION_EXPIRED', statusCode: 410 });
  });

  it('answers a code of a verification canceled at Twilio with VERIFICATION_EXPIRED, every time, and a new code works', async () => {
    const phone = '+14155550114';
    await send(phone);
    const code = await outboxCode(phone);
    // Canceled at Twilio (by an operator, or our own cleanup) through the SDK: a resend names the
    // pending verification, and Status=canceled ends it; Twilio then answers 20404 for it.
    const twilioClient = twilio(EMULATOR_CREDENTIALS.accountSid, EMULATOR_CREDENTIALS.authToken, { httpClient: new BaseUrlRequestClient(emulator.url) });
    const service = twilioClient.verify.v2.services(EMULATOR_CREDENTIALS.serviceSid);
    const { sid } = await service.verifications.create({ to: phone, channel: 'sms' });
    expect((await service.verifications(sid).update({ status: 'canceled' })).status).toBe('canceled');
    await expect(service.verifications(sid).fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
    // The code can no longer be used: the user must ask for a new one, which is what this code says.
    for (let i = 0; i < 2; i++) await expect(check(phone, code)).rejects.toMatchObject({ code: 'VERIFICATION_EXPIRED', statusCode: 410 });
    await send(phone);
    const fresh = await outboxCode(phone);
    expect((await check(phone, fresh)).phone_number).toBe(phone);
  });

  it.each([
    [60212, 'send', 'VERIFICATION_CONCURRENT_REQUESTS', 429],
    [20429, 'send', 'RATE_LIMITED', 429],
    [20429, 'check', 'RATE_LIMITED', 429],
    [60410, 'send', 'PHONE_NUMBER_BLOCKED', 403],
    [60605, 'send', 'PHONE_COUNTRY_NOT_ALLOWED', 400],
    [60205, 'send', 'PHONE_NUMBER_CANNOT_RECEIVE_SMS', 400],
  ] as const)('maps Twilio %i on a %s to %s', async (twilioCode, operation, ours, status) => {
    const phone = `+1415555${String(twilioCode).slice(-3)}${operation === 'check' ? 1 : 0}`;
    if (operation === 'check') await send(phone);
    await failNext({ code: twilioCode, operation, to: phone });
    const attempt = operation === 'send' ? send(phone) : check(phone, '123456');
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: ours, statusCode: status });
    // Not a wrong code and no SMS: the number may try again at once, and it works.
    if (operation === 'send') await expect(send(phone)).resolves.toEqual({ status: 'pending' });
    else expect((await check(phone, await outboxCode(phone))).phone_number).toBe(phone);
  });

  it('lets a test phone number in with its fixed code, without sending anything', async () => {
    const phone = '+15005550006';
    await bus.request(AuthSubjects.sendVerification, { phone_number: phone, channel: 'sms' });
    const outbox = await fetch(`${emulator.url}/outbox?to=${encodeURIComponent(phone)}`).then((r) => r.json());
    expect(outbox).toEqual({ messages: [] });
    await expect(bus.request(AuthSubjects.checkVerification, { phone_number: phone, code: '654321' })).rejects.toMatchObject({ code: 'INVALID_VERIFICATION_CODE' });
    expect((await bus.request(AuthSubjects.checkVerification, { phone_number: phone, code: '123456' })).phone_number).toBe(phone);
  });

  it('answers VERIFICATION_PROVIDER_UNAVAILABLE fast when Twilio cannot be reached', async () => {
    const deadBus = new InProcessBus();
    const settings = resolveAuthSettings({ ...authEnv, TWILIO_VERIFY_BASE_URL: 'http://127.0.0.1:1' });
    const auth = await buildAuthService({ settings, bus: deadBus, verificationLog: new MemoryVerificationLog(), limits: new MemoryVerificationLimits() });
    await auth.ready();
    const started = Date.now();
    await expect(deadBus.request(AuthSubjects.sendVerification, { phone_number: '+14155550104', channel: 'sms' })).rejects.toMatchObject({
      code: 'VERIFICATION_PROVIDER_UNAVAILABLE',
      statusCode: 503,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    await auth.close();
  });
});
