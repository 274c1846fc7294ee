import { afterAll, beforeAll, expect, it } from 'vitest';
import { call, latestCode, newPhoneNumber } from './support/client.ts';
import { describeEachMode } from './support/modes.ts';
import { startSystem, type System } from './support/system.ts';

await describeEachMode('abuse limits and retries end to end', (mode) => {
  let system: System;
  beforeAll(async () => {
    system = await startSystem(mode);
  }, 120_000);
  afterAll(async () => {
    await system?.close();
  });

  const send = (phone: string) => call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: phone } });
  const verify = (phone: string, code: string) => call(system, 'POST', '/api/auth/verify-code', { body: { phone_number: phone, code } });
  const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');

  it('locks a number after 10 wrong codes across codes, until the hour is over', async () => {
    const phone = newPhoneNumber();
    for (let round = 0; round < 2; round++) {
      expect((await send(phone)).status).toBe(200);
      const code = await latestCode(system, phone);
      for (let i = 0; i < 5; i++) expect((await verify(phone, wrongFor(code))).status).toBe(401);
      // Twilio's verification is dead after 5 wrong checks; once it expires the attacker asks again.
      const advanced = await fetch(`${system.twilioUrl}/_emulator/clock/advance`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ seconds: 601 }),
      });
      expect(advanced.ok).toBe(true);
    }
    expect((await send(phone)).status).toBe(200);
    const locked = await verify(phone, await latestCode(system, phone));
    expect(locked.status).toBe(429);
    expect(locked.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests', code: 'VERIFICATION_LOCKED' });
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(3_000);
  });

  it('answers a used code with VERIFICATION_ALREADY_USED (409), not expired; the same code right after gets the same pair', async () => {
    const phone = newPhoneNumber();
    expect((await send(phone)).status).toBe(200);
    const code = await latestCode(system, phone);
    const first = await verify(phone, code);
    expect(first.status).toBe(200);
    // Sent again moments later (its answer may have been lost): the same tokens, no second session.
    const again = await verify(phone, code);
    expect(again.status).toBe(200);
    expect(again.body.tokens).toEqual(first.body.tokens);
    const other = await verify(phone, wrongFor(code));
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ statusCode: 409, error: 'Conflict', code: 'VERIFICATION_ALREADY_USED' });
  });

  it.skipIf(mode === 'embedded')('keeps a code Twilio approved while token-service is down: the retry logs in', async () => {
    const phone = newPhoneNumber();
    expect((await send(phone)).status).toBe(200);
    const code = await latestCode(system, phone);
    await system.stop!(['token-service']);
    try {
      const failed = await verify(phone, code);
      expect(failed.status).toBe(503);
      expect(failed.body.code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      await system.restart(['token-service']);
    }
    const retried = await verify(phone, code);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body.phone_number).toBe(phone);
    expect((await call(system, 'GET', '/api/auth/protected', { token: retried.body.tokens.access_token })).status).toBe(200);
    expect((await verify(phone, wrongFor(code))).body.code).toBe('VERIFICATION_ALREADY_USED');
  }, 60_000);
});
