import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwilioVerifyEmulator, type StartedTwilioVerifyEmulator } from '../src/index.ts';
import { ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID, nextPhone } from './helpers.ts';

let emulator: StartedTwilioVerifyEmulator;
const FIXED_NOW = Date.parse('2030-01-02T03:04:05.678Z');

beforeAll(async () => {
  emulator = await startTwilioVerifyEmulator({ now: () => FIXED_NOW });
});
afterAll(() => emulator.close());

const basicAuth = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;

/** A Verify API call the way the SDK makes it: form-encoded, Twilio's capitalised parameters; null sends no credentials. */
const postForm = (path: string, form: Record<string, string>, authorization: string | null = basicAuth) =>
  fetch(`${emulator.url}/v2${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(authorization === null ? {} : { authorization }),
    },
    body: new URLSearchParams(form).toString(),
  });

describe('the Verify API on the wire', () => {
  it('answers a send with 201 and Twilio snake_case JSON', async () => {
    const to = nextPhone();
    const res = await postForm(`/Services/${SERVICE_SID}/Verifications`, { To: to, Channel: 'sms' });

    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      sid: expect.stringMatching(/^VE[0-9a-f]{32}$/),
      service_sid: SERVICE_SID,
      account_sid: ACCOUNT_SID,
      to,
      channel: 'sms',
      status: 'pending',
      valid: false,
      lookup: {},
      amount: null,
      payee: null,
      send_code_attempts: [{ attempt_sid: expect.stringMatching(/^VL[0-9a-f]{32}$/), channel: 'sms', time: '2030-01-02T03:04:05Z' }],
      date_created: '2030-01-02T03:04:05Z',
      date_updated: '2030-01-02T03:04:05Z',
      sna: null,
      url: `https://verify.twilio.com/v2/Services/${SERVICE_SID}/Verifications/${String(body['sid'])}`,
    });
  });

  it('answers a check with Twilio verification-check JSON', async () => {
    const to = nextPhone();
    await postForm(`/Services/${SERVICE_SID}/Verifications`, { To: to, Channel: 'sms' });
    const res = await postForm(`/Services/${SERVICE_SID}/VerificationCheck`, { To: to, Code: '0000' });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      sid: expect.stringMatching(/^VE[0-9a-f]{32}$/),
      service_sid: SERVICE_SID,
      account_sid: ACCOUNT_SID,
      to,
      channel: 'sms',
      status: 'pending',
      valid: false,
      amount: null,
      payee: null,
      date_created: '2030-01-02T03:04:05Z',
      date_updated: '2030-01-02T03:04:05Z',
      sna_attempts_error_codes: [],
    });
  });

  it('answers a missing parameter with a Twilio 60200 error body', async () => {
    const res = await postForm(`/Services/${SERVICE_SID}/Verifications`, { Channel: 'sms' });

    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code: 60200,
      message: 'Invalid parameter `To`: missing',
      more_info: 'https://www.twilio.com/docs/errors/60200',
      status: 400,
    });
  });

  it('answers a request without credentials with 20003 and a Basic challenge', async () => {
    const res = await postForm(`/Services/${SERVICE_SID}/Verifications`, { To: nextPhone(), Channel: 'sms' }, null);

    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="Twilio API"');
    expect(await res.json()).toMatchObject({ code: 20003, status: 401, more_info: 'https://www.twilio.com/docs/errors/20003' });
  });

  it('refuses an account SID that does not start with AC', async () => {
    const authorization = `Basic ${Buffer.from(`XX${'1'.repeat(32)}:token`).toString('base64')}`;
    const res = await postForm(`/Services/${SERVICE_SID}/Verifications`, { To: nextPhone(), Channel: 'sms' }, authorization);

    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 20003 });
  });

  it('sends Retry-After with every 429: 60203 and 60202 until the verification expires, 20429 and 60212 in a second', async () => {
    const retryAfter = async (res: Response) => [res.status, ((await res.json()) as { code: number }).code, res.headers.get('retry-after')];
    const send = (to: string) => postForm(`/Services/${SERVICE_SID}/Verifications`, { To: to, Channel: 'sms' });
    const check = (to: string, code: string) => postForm(`/Services/${SERVICE_SID}/VerificationCheck`, { To: to, Code: code });

    const resent = nextPhone();
    for (let i = 0; i < 5; i++) expect((await send(resent)).status).toBe(201);
    // The clock stands still here: the whole 10 minutes are left.
    expect(await retryAfter(await send(resent))).toEqual([429, 60203, '600']);

    const guessed = nextPhone();
    await send(guessed);
    for (let i = 0; i < 5; i++) expect((await check(guessed, '0000000')).status).toBe(200);
    expect(await retryAfter(await check(guessed, '0000000'))).toEqual([429, 60202, '600']);

    for (const [code, seconds] of [[20429, '1'], [60212, '1'], [60203, '600'], [60202, '600']] as const) {
      const to = nextPhone();
      const queued = await fetch(`${emulator.url}/_emulator/failures`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, to }) });
      expect(queued.status).toBe(204);
      expect(await retryAfter(await send(to)), String(code)).toEqual([429, code, seconds]);
    }
    // Nothing else carries one.
    expect((await postForm(`/Services/${SERVICE_SID}/Verifications`, { Channel: 'sms' })).headers.get('retry-after')).toBeNull();

    // Later in the verification's life, less is left.
    let now = FIXED_NOW;
    const later = await startTwilioVerifyEmulator({ now: () => now });
    try {
      const to = nextPhone();
      const sendLater = () => fetch(`${later.url}/v2/Services/${SERVICE_SID}/Verifications`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth }, body: new URLSearchParams({ To: to, Channel: 'sms' }).toString() });
      for (let i = 0; i < 5; i++) expect((await sendLater()).status).toBe(201);
      now += 100_500;
      expect(await retryAfter(await sendLater())).toEqual([429, 60203, '500']);
    } finally {
      await later.close();
    }
  });

  it('answers an unknown Verify path with 20404', async () => {
    const res = await postForm(`/Services/${SERVICE_SID}/Nope`, {});

    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 20404, message: `The requested resource /Services/${SERVICE_SID}/Nope was not found` });
  });
});

describe('the outbox', () => {
  it('lists sent messages newest last, filtered by recipient however the + is written', async () => {
    const to = nextPhone();
    const other = nextPhone();
    await postForm(`/Services/${SERVICE_SID}/Verifications`, { To: to, Channel: 'sms' });
    await postForm(`/Services/${SERVICE_SID}/Verifications`, { To: other, Channel: 'sms' });
    await postForm(`/Services/${SERVICE_SID}/Verifications`, { To: to, Channel: 'call', CustomFriendlyName: 'Acme' });

    const encoded = await fetch(`${emulator.url}/outbox?to=${encodeURIComponent(to)}`);
    expect(encoded.status).toBe(200);
    const { messages } = (await encoded.json()) as { messages: Record<string, unknown>[] };
    const code = messages[0]?.['code'];
    expect(messages).toEqual([
      { to, channel: 'sms', code, body: `Your verification code is: ${String(code)}`, created_at: '2030-01-02T03:04:05.678Z' },
      { to, channel: 'call', code, body: `Your Acme verification code is: ${String(code)}`, created_at: '2030-01-02T03:04:05.678Z' },
    ]);

    const unencoded = await fetch(`${emulator.url}/outbox?to=${to}`);
    expect(await unencoded.json()).toEqual({ messages });
  });

  it('lists every message without a filter and is emptied by DELETE', async () => {
    await postForm(`/Services/${SERVICE_SID}/Verifications`, { To: nextPhone(), Channel: 'sms' });
    const all = (await (await fetch(`${emulator.url}/outbox`)).json()) as { messages: unknown[] };
    expect(all.messages.length).toBeGreaterThan(0);

    const cleared = await fetch(`${emulator.url}/outbox`, { method: 'DELETE' });
    expect(cleared.status).toBe(204);
    expect(await (await fetch(`${emulator.url}/outbox`)).json()).toEqual({ messages: [] });
  });
});

describe('emulator controls', () => {
  it('reports health', async () => {
    const res = await fetch(`${emulator.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('advances the clock and returns the new now', async () => {
    const advance = (seconds: unknown) =>
      fetch(`${emulator.url}/_emulator/clock/advance`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ seconds }),
      });

    const res = await advance(60);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ now: '2030-01-02T03:05:05.678Z' });
    expect((await advance(-1)).status).toBe(400);
  });
});
