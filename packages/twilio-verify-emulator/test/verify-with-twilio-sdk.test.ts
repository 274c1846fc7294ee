import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwilioVerifyEmulator, type StartedTwilioVerifyEmulator } from '../src/index.ts';
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  SERVICE_SID,
  advanceClock,
  failNext,
  latestCode,
  nextPhone,
  readOutbox,
  sdkClient,
  wrongCode,
} from './helpers.ts';

let emulator: StartedTwilioVerifyEmulator;
let verify: ReturnType<typeof sdkClient>['verify']['v2'];
const service = () => verify.services(SERVICE_SID);

beforeAll(async () => {
  emulator = await startTwilioVerifyEmulator();
  verify = sdkClient(emulator.url).verify.v2;
});
afterAll(() => emulator.close());

describe('sending a code', () => {
  it('creates a pending verification and delivers a 6-digit code to the outbox', async () => {
    const to = nextPhone();
    const verification = await service().verifications.create({ to, channel: 'sms' });

    expect(verification).toMatchObject({
      serviceSid: SERVICE_SID,
      accountSid: ACCOUNT_SID,
      to,
      channel: 'sms',
      status: 'pending',
      valid: false,
      lookup: {},
      amount: null,
      payee: null,
    });
    expect(verification.sid).toMatch(/^VE[0-9a-f]{32}$/);
    expect(verification.sendCodeAttempts).toHaveLength(1);
    expect(verification.dateCreated).toBeInstanceOf(Date);
    expect(verification.url).toBe(`https://verify.twilio.com/v2/Services/${SERVICE_SID}/Verifications/${verification.sid}`);

    const { messages } = await readOutbox(emulator.url, to);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.code).toMatch(/^\d{6}$/);
    expect(messages[0]?.body).toBe(`Your verification code is: ${messages[0]?.code}`);
  });

  it('reuses the pending verification and its code on a resend', async () => {
    const to = nextPhone();
    const first = await service().verifications.create({ to, channel: 'sms' });
    const second = await service().verifications.create({ to, channel: 'sms' });

    expect(second.sid).toBe(first.sid);
    expect(second.sendCodeAttempts).toHaveLength(2);
    const { messages } = await readOutbox(emulator.url, to);
    expect(messages.map((m) => m.code)).toEqual([messages[0]?.code, messages[0]?.code]);
  });

  it('refuses the sixth send of one verification with 60203', async () => {
    const to = nextPhone();
    for (let i = 0; i < 5; i++) await service().verifications.create({ to, channel: 'sms' });

    await expect(service().verifications.create({ to, channel: 'sms' })).rejects.toMatchObject({
      status: 429,
      code: 60203,
      message: 'Max send attempts reached',
    });
    expect((await readOutbox(emulator.url, to)).messages).toHaveLength(5);
  });

  it('sends a new code once the previous verification was approved', async () => {
    const to = nextPhone();
    const first = await service().verifications.create({ to, channel: 'sms' });
    await service().verificationChecks.create({ to, code: await latestCode(emulator.url, to) });
    const second = await service().verifications.create({ to, channel: 'sms' });

    expect(second.sid).not.toBe(first.sid);
    expect(second.sendCodeAttempts).toHaveLength(1);
  });

  it('rejects a To that is not E.164 with 60200', async () => {
    await expect(service().verifications.create({ to: '555-1234', channel: 'sms' })).rejects.toMatchObject({
      status: 400,
      code: 60200,
      message: 'Invalid parameter `To`: 555-1234',
    });
    await expect(service().verifications.create({ to: 'someone@example.com', channel: 'sms' })).rejects.toMatchObject({
      status: 400,
      code: 60200,
    });
  });

  it('rejects an unknown channel with 60200', async () => {
    await expect(service().verifications.create({ to: nextPhone(), channel: 'pigeon' })).rejects.toMatchObject({
      status: 400,
      code: 60200,
      message: 'Invalid parameter `Channel`: pigeon',
    });
  });

  it('accepts an email address on the email channel', async () => {
    const verification = await service().verifications.create({ to: 'someone@example.com', channel: 'email' });
    expect(verification).toMatchObject({ to: 'someone@example.com', channel: 'email', status: 'pending' });
  });
});

describe('checking a code', () => {
  it('approves the right code', async () => {
    const to = nextPhone();
    const { sid } = await service().verifications.create({ to, channel: 'sms' });
    const check = await service().verificationChecks.create({ to, code: await latestCode(emulator.url, to) });

    expect(check).toMatchObject({ sid, to, channel: 'sms', status: 'approved', valid: true, snaAttemptsErrorCodes: [] });
  });

  it('approves by VerificationSid as well as by To', async () => {
    const to = nextPhone();
    const { sid } = await service().verifications.create({ to, channel: 'sms' });
    const check = await service().verificationChecks.create({ verificationSid: sid, code: await latestCode(emulator.url, to) });

    expect(check).toMatchObject({ sid, status: 'approved', valid: true });
  });

  it('answers a wrong code with pending, valid false', async () => {
    const to = nextPhone();
    await service().verifications.create({ to, channel: 'sms' });
    const check = await service().verificationChecks.create({ to, code: wrongCode(await latestCode(emulator.url, to)) });

    expect(check).toMatchObject({ to, status: 'pending', valid: false });
  });

  it('answers five wrong codes normally, refuses the sixth check with 60202 and then deletes the verification', async () => {
    const to = nextPhone();
    const { sid } = await service().verifications.create({ to, channel: 'sms' });
    const code = await latestCode(emulator.url, to);
    for (let i = 0; i < 5; i++) {
      const check = await service().verificationChecks.create({ to, code: wrongCode(code) });
      expect(check.status).toBe('pending');
    }
    expect((await service().verifications(sid).fetch()).status).toBe('max_attempts_reached');

    await expect(service().verificationChecks.create({ to, code })).rejects.toMatchObject({
      status: 429,
      code: 60202,
      message: 'Max check attempts reached',
    });
    // Deleted: even the right code, and a fetch, are 20404 now; a send starts a new verification.
    await expect(service().verificationChecks.create({ to, code })).rejects.toMatchObject({ status: 404, code: 20404 });
    await expect(service().verifications(sid).fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
    expect((await service().verifications.create({ to, channel: 'sms' })).sid).not.toBe(sid);
  });

  it('answers 20404 when nothing was sent', async () => {
    await expect(service().verificationChecks.create({ to: nextPhone(), code: '123456' })).rejects.toMatchObject({
      status: 404,
      code: 20404,
      message: `The requested resource /Services/${SERVICE_SID}/VerificationCheck was not found`,
    });
  });

  it('answers 20404 for a code that was already approved', async () => {
    const to = nextPhone();
    await service().verifications.create({ to, channel: 'sms' });
    const code = await latestCode(emulator.url, to);
    await service().verificationChecks.create({ to, code });

    await expect(service().verificationChecks.create({ to, code })).rejects.toMatchObject({ status: 404, code: 20404 });
  });

  it('keeps a code valid for 10 minutes and answers 20404 after', async () => {
    const to = nextPhone();
    await service().verifications.create({ to, channel: 'sms' });
    const code = await latestCode(emulator.url, to);

    await advanceClock(emulator.url, 599);
    expect((await service().verificationChecks.create({ to, code: wrongCode(code) })).status).toBe('pending');
    await advanceClock(emulator.url, 1);
    await expect(service().verificationChecks.create({ to, code })).rejects.toMatchObject({ status: 404, code: 20404 });
  });

  it('sends a new code after the old one expired', async () => {
    const to = nextPhone();
    const first = await service().verifications.create({ to, channel: 'sms' });
    await advanceClock(emulator.url, 600);
    const second = await service().verifications.create({ to, channel: 'sms' });

    expect(second.sid).not.toBe(first.sid);
  });

  it('answers a 4-10 character code that is not digits as a wrong code', async () => {
    const to = nextPhone();
    await service().verifications.create({ to, channel: 'sms' });
    expect(await service().verificationChecks.create({ to, code: 'AB12CD' })).toMatchObject({ status: 'pending', valid: false });
    expect((await service().verificationChecks.create({ to, code: await latestCode(emulator.url, to) })).status).toBe('approved');
  });

  it('rejects a code shorter than 4 or longer than 10 characters with 60200', async () => {
    const to = nextPhone();
    await service().verifications.create({ to, channel: 'sms' });
    await expect(service().verificationChecks.create({ to, code: '12a' })).rejects.toMatchObject({ status: 400, code: 60200 });
    await expect(service().verificationChecks.create({ to, code: '12345678901' })).rejects.toMatchObject({ status: 400, code: 60200 });
  });
});

describe('fetching and updating a verification', () => {
  it('fetches a pending verification and cancels it, after which checks answer 20404', async () => {
    const to = nextPhone();
    const { sid } = await service().verifications.create({ to, channel: 'sms' });

    expect(await service().verifications(sid).fetch()).toMatchObject({ sid, status: 'pending' });
    expect(await service().verifications(sid).update({ status: 'canceled' })).toMatchObject({ sid, status: 'canceled' });
    await expect(service().verifications(sid).fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
    await expect(service().verificationChecks.create({ to, code: await latestCode(emulator.url, to) })).rejects.toMatchObject({
      status: 404,
      code: 20404,
    });
  });
});

describe('requests Twilio would refuse', () => {
  it('answers 20404 for a well-formed service SID that does not exist', async () => {
    const unknown = verify.services(`VA${'b'.repeat(32)}`);
    const notFound = { status: 404, code: 20404, message: `The requested resource /Services/VA${'b'.repeat(32)}/Verifications was not found` };
    await expect(unknown.verifications.create({ to: nextPhone(), channel: 'sms' })).rejects.toMatchObject(notFound);
    await expect(unknown.verificationChecks.create({ to: nextPhone(), code: '123456' })).rejects.toMatchObject({ status: 404, code: 20404 });
  });

  it('knows the services it is configured with', async () => {
    const other = `VA${'c'.repeat(32)}`;
    const configured = await startTwilioVerifyEmulator({ serviceSids: [other] });
    try {
      const client = sdkClient(configured.url).verify.v2;
      expect((await client.services(other).verifications.create({ to: nextPhone(), channel: 'sms' })).serviceSid).toBe(other);
      await expect(client.services(SERVICE_SID).verifications.create({ to: nextPhone(), channel: 'sms' })).rejects.toMatchObject({ status: 404, code: 20404 });
    } finally {
      await configured.close();
    }
  });

  it('answers 60205 for an SMS to a configured landline, and lets a call through', async () => {
    const landline = nextPhone();
    const configured = await startTwilioVerifyEmulator({ landlines: [landline] });
    try {
      const client = sdkClient(configured.url).verify.v2.services(SERVICE_SID);
      await expect(client.verifications.create({ to: landline, channel: 'sms' })).rejects.toMatchObject({
        status: 403,
        code: 60205,
        message: 'SMS is not supported by landline phone number',
        moreInfo: 'https://www.twilio.com/docs/errors/60205',
      });
      expect((await client.verifications.create({ to: landline, channel: 'call' })).status).toBe('pending');
      expect((await readOutbox(configured.url, landline)).messages.map((m) => m.channel)).toEqual(['call']);
    } finally {
      await configured.close();
    }
  });

  it('answers 60410 for a prefix blocked by Fraud Guard and 60605 for one disabled by Geo Permissions', async () => {
    const configured = await startTwilioVerifyEmulator({ blockedPrefixes: ['+88216'], geoBlockedPrefixes: ['+98'] });
    try {
      const client = sdkClient(configured.url).verify.v2.services(SERVICE_SID);
      await expect(client.verifications.create({ to: '+882161234567', channel: 'sms' })).rejects.toMatchObject({ status: 403, code: 60410 });
      await expect(client.verifications.create({ to: '+989121234567', channel: 'call' })).rejects.toMatchObject({ status: 403, code: 60605 });
      expect((await client.verifications.create({ to: '+14155550100', channel: 'sms' })).status).toBe('pending');
      expect((await readOutbox(configured.url)).messages).toHaveLength(1);
    } finally {
      await configured.close();
    }
  });

  it.each([
    [20429, 429, 'Too Many Requests'],
    [60212, 429, 'Too many concurrent requests for phone number'],
    [60410, 403, 'Verification delivery attempt blocked'],
    [60605, 403, 'Verification delivery attempt blocked'],
    [60205, 403, 'SMS is not supported by landline phone number'],
  ])('answers a queued %i once, for the matching request only', async (code, status, message) => {
    const to = nextPhone();
    await failNext(emulator.url, { code, operation: 'send', to });
    // Another number and another operation are not affected.
    expect((await service().verifications.create({ to: nextPhone(), channel: 'sms' })).status).toBe('pending');
    await expect(service().verifications.create({ to, channel: 'sms' })).rejects.toMatchObject({ status, code, message });
    expect((await service().verifications.create({ to, channel: 'sms' })).status).toBe('pending');
  });

  it('answers queued failures on checks too, as many times as asked', async () => {
    const to = nextPhone();
    await service().verifications.create({ to, channel: 'sms' });
    await failNext(emulator.url, { code: 20429, operation: 'check', times: 2 });
    for (let i = 0; i < 2; i++) {
      await expect(service().verificationChecks.create({ to, code: '123456' })).rejects.toMatchObject({ status: 429, code: 20429 });
    }
    expect((await service().verificationChecks.create({ to, code: await latestCode(emulator.url, to) })).status).toBe('approved');
  });

  it('answers 20404 for a malformed service SID', async () => {
    await expect(verify.services('VA123').verifications.create({ to: nextPhone(), channel: 'sms' })).rejects.toMatchObject({
      status: 404,
      code: 20404,
    });
  });

  it('answers 20003 when the credentials do not match the configured ones', async () => {
    const strict = await startTwilioVerifyEmulator({ credentials: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN } });
    try {
      const wrong = sdkClient(strict.url, ACCOUNT_SID, 'not-the-token').verify.v2.services(SERVICE_SID);
      await expect(wrong.verifications.create({ to: nextPhone(), channel: 'sms' })).rejects.toMatchObject({
        status: 401,
        code: 20003,
      });
      const right = sdkClient(strict.url).verify.v2.services(SERVICE_SID);
      expect((await right.verifications.create({ to: nextPhone(), channel: 'sms' })).status).toBe('pending');
    } finally {
      await strict.close();
    }
  });
});

describe('EmulatorRequestClient', () => {
  it('redirects regional Twilio hosts too', async () => {
    const client = sdkClient(emulator.url);
    client.edge = 'sydney';
    client.region = 'au1';
    const verification = await client.verify.v2.services(SERVICE_SID).verifications.create({ to: nextPhone(), channel: 'sms' });

    expect(verification.status).toBe('pending');
  });
});

describe('two emulators in one process', () => {
  it('share no verifications and no outbox', async () => {
    const other = await startTwilioVerifyEmulator();
    try {
      const to = nextPhone();
      await service().verifications.create({ to, channel: 'sms' });
      const code = await latestCode(emulator.url, to);

      expect((await readOutbox(other.url, to)).messages).toEqual([]);
      const otherService = sdkClient(other.url).verify.v2.services(SERVICE_SID);
      await expect(otherService.verificationChecks.create({ to, code })).rejects.toMatchObject({ status: 404, code: 20404 });
      expect((await service().verificationChecks.create({ to, code })).status).toBe('approved');
    } finally {
      await other.close();
    }
  });
});
