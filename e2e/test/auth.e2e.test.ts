import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { call, latestCode, login, newPhoneNumber } from './support/client.ts';
import { describeEachMode } from './support/modes.ts';
import { startSystem, type System } from './support/system.ts';

await describeEachMode('phone login end to end', (mode) => {
  let system: System;
  beforeAll(async () => {
    system = await startSystem(mode);
  }, 120_000);
  afterAll(async () => {
    await system?.close();
  });

  it('logs in with an SMS code: exact response shapes', async () => {
    const phone = newPhoneNumber();
    const sent = await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: phone } });
    expect(sent.status).toBe(200);
    expect(sent.body).toEqual({ message: 'Verification code sent successfully', status: 'pending' });

    const code = await latestCode(system, phone);
    expect(code).toMatch(/^\d{6}$/);
    const verified = await call(system, 'POST', '/api/auth/verify-code', { body: { phone_number: phone, code } });
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({
      message: 'Verification successful',
      authenticated: true,
      tokens: { access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'Bearer' },
      phone_number: phone,
    });

    const protectedRes = await call(system, 'GET', '/api/auth/protected', { token: verified.body.tokens.access_token });
    expect(protectedRes.status).toBe(200);
    expect(protectedRes.body).toEqual({ message: 'This is a protected route', phone_number: phone });
  });

  it('normalises the phone number to E.164 and rejects a bad one with INVALID_PHONE_NUMBER', async () => {
    const phone = newPhoneNumber();
    const formatted = `+1 (${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`;
    const sent = await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: formatted } });
    expect(sent.status).toBe(200);
    const code = await latestCode(system, phone);
    const verified = await call(system, 'POST', '/api/auth/verify-code', { body: { phone_number: formatted, code } });
    expect(verified.body.phone_number).toBe(phone);

    const bad = await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: '+1 555' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'INVALID_PHONE_NUMBER' });
  });

  it('answers a wrong code with the 401 body, then 429 after five wrong attempts', async () => {
    const phone = newPhoneNumber();
    await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: phone } });
    const code = await latestCode(system, phone);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let attempt = 1; attempt <= 5; attempt++) {
      const res = await call(system, 'POST', '/api/auth/verify-code', { body: { phone_number: phone, code: wrong } });
      expect(res.status, `attempt ${attempt}`).toBe(401);
      expect(res.body).toEqual({ message: 'Invalid verification code', authenticated: false, status: 'pending', code: 'INVALID_VERIFICATION_CODE' });
    }
    // Even the right code is refused now: the verification is burnt.
    const blocked = await call(system, 'POST', '/api/auth/verify-code', { body: { phone_number: phone, code } });
    expect(blocked.status).toBe(429);
    expect(blocked.body.code).toBe('VERIFICATION_MAX_ATTEMPTS');
  });

  it('tells an expired code from one never sent', async () => {
    const never = await call(system, 'POST', '/api/auth/verify-code', { body: { phone_number: newPhoneNumber(), code: '123456' } });
    expect(never.status).toBe(404);
    expect(never.body.code).toBe('VERIFICATION_NOT_FOUND');

    const phone = newPhoneNumber();
    await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: phone } });
    const code = await latestCode(system, phone);
    const advanced = await fetch(`${system.twilioUrl}/_emulator/clock/advance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seconds: 601 }),
    });
    expect(advanced.ok).toBe(true);
    const expired = await call(system, 'POST', '/api/auth/verify-code', { body: { phone_number: phone, code } });
    expect(expired.status).toBe(410);
    expect(expired.body.code).toBe('VERIFICATION_EXPIRED');
  });

  it('rotates the refresh token; a retry gets the same pair; an older one kills its session', async () => {
    const { tokens } = await login(system);
    const refreshed = await call(system, 'POST', '/api/auth/refresh', { token: tokens.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', refresh_token: expect.any(String) });
    expect(refreshed.body.refresh_token).not.toBe(tokens.refresh_token);
    expect((await call(system, 'GET', '/api/auth/protected', { token: refreshed.body.access_token })).status).toBe(200);

    // A retry (the answer was lost) within the reuse interval: the same pair, the session lives.
    const retried = await call(system, 'POST', '/api/auth/refresh', { token: tokens.refresh_token });
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual(refreshed.body);
    const next = await call(system, 'POST', '/api/auth/refresh', { token: refreshed.body.refresh_token });
    expect(next.status).toBe(200);

    // The first token is now two rotations old: reuse.
    const reused = await call(system, 'POST', '/api/auth/refresh', { token: tokens.refresh_token });
    expect(reused.status).toBe(401);
    expect(reused.body.code).toBe('REFRESH_TOKEN_REUSED');
    // The whole session is gone: the new access token and the new refresh token too.
    const after = await call(system, 'GET', '/api/auth/protected', { token: next.body.access_token });
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('TOKEN_REVOKED');
    expect((await call(system, 'POST', '/api/auth/refresh', { token: next.body.refresh_token })).body.code).toBe('TOKEN_REVOKED');
  });

  it('answers 20 concurrent refreshes of one token with one pair and keeps the session', async () => {
    const { tokens } = await login(system);
    const replies = await Promise.all(Array.from({ length: 20 }, () => call(system, 'POST', '/api/auth/refresh', { token: tokens.refresh_token })));
    for (const r of replies) {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toEqual(replies[0]!.body);
    }
    expect((await call(system, 'GET', '/api/auth/protected', { token: replies[0]!.body.access_token })).status).toBe(200);
    expect((await call(system, 'POST', '/api/auth/refresh', { token: replies[0]!.body.refresh_token })).status).toBe(200);
  });

  it('publishes a JWKS that a standard JOSE library verifies access tokens with', async () => {
    const { phone, tokens } = await login(system);
    const jwks = createRemoteJWKSet(new URL(`${system.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
      issuer: 'phone-login',
      audience: 'phone-login-api',
      typ: 'at+jwt',
      algorithms: ['EdDSA'],
    });
    expect(payload).toMatchObject({ sub: phone, typ: 'access' });
    expect(protectedHeader.kid).toEqual(expect.any(String));
    // A refresh token is not an access token, for a third party either.
    await expect(jwtVerify(tokens.refresh_token, jwks, { typ: 'at+jwt' })).rejects.toThrow();
    const res = await fetch(`${system.url}/.well-known/jwks.json`);
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(JSON.stringify(await res.json())).not.toMatch(/"d"/);
  });

  it('logout revokes this session only; logout-all revokes every session of the number', async () => {
    const phone = newPhoneNumber();
    const a = await login(system, phone);
    const b = await login(system, phone);
    const c = await login(system, phone);

    const out = await call(system, 'DELETE', '/api/auth/logout', { token: a.tokens.access_token });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ message: 'Successfully logged out' });
    expect((await call(system, 'GET', '/api/auth/protected', { token: a.tokens.access_token })).body.code).toBe('TOKEN_REVOKED');
    expect((await call(system, 'GET', '/api/auth/protected', { token: b.tokens.access_token })).status).toBe(200);

    const all = await call(system, 'DELETE', '/api/auth/logout-all', { token: b.tokens.access_token });
    expect(all.status).toBe(200);
    expect(all.body).toEqual({ message: `Successfully logged out from all devices for ${phone}` });
    for (const session of [b, c]) {
      const res = await call(system, 'GET', '/api/auth/protected', { token: session.tokens.access_token });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('TOKEN_REVOKED');
      expect((await call(system, 'POST', '/api/auth/refresh', { token: session.tokens.refresh_token })).status).toBe(401);
    }
    // Logging in again right after works.
    const fresh = await login(system, phone);
    expect((await call(system, 'GET', '/api/auth/protected', { token: fresh.tokens.access_token })).status).toBe(200);
  });

  it('keeps a revoked token revoked after the gateway and token-service restart', async () => {
    const revoked = await login(system);
    const live = await login(system);
    await call(system, 'DELETE', '/api/auth/logout', { token: revoked.tokens.access_token });
    await system.restart(['gateway', 'token-service']);

    const res = await call(system, 'GET', '/api/auth/protected', { token: revoked.tokens.access_token });
    expect(res.status).toBe(401);
    const refresh = await call(system, 'POST', '/api/auth/refresh', { token: revoked.tokens.refresh_token });
    expect(refresh.status).toBe(401);
    if (mode === 'distributed') {
      // Revocations live in Redis: the same token is still known as revoked, and an untouched
      // session still works.
      expect(res.body.code).toBe('TOKEN_REVOKED');
      expect((await call(system, 'GET', '/api/auth/protected', { token: live.tokens.access_token })).status).toBe(200);
    } else {
      // Embedded: the restart replaced the per-process signing key, so every old token is dead.
      expect(res.body.code).toBe('TOKEN_INVALID');
    }
  }, 60_000);

  it.skipIf(mode === 'embedded')('fails closed when Redis lost its data: tokens of sessions it no longer knows are refused', async () => {
    const { tokens } = await login(system);
    const { sid } = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as { sid: string };
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      const keys = await redis.keys(`e2e:*:session:${sid}`);
      expect(keys).toHaveLength(1);
      await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
    const res = await call(system, 'GET', '/api/auth/protected', { token: tokens.access_token });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('TOKEN_REVOKED');
    expect((await call(system, 'POST', '/api/auth/refresh', { token: tokens.refresh_token })).body.code).toBe('TOKEN_REVOKED');
  });

  it.skipIf(mode === 'embedded')('fails closed with a fast 503 when Redis is unreachable, and recovers', async () => {
    const { tokens } = await login(system);
    await system.redis!.down();
    try {
      const started = Date.now();
      const res = await call(system, 'GET', '/api/auth/protected', { token: tokens.access_token });
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('STORE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await system.redis!.up();
    }
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await call(system, 'GET', '/api/auth/protected', { token: tokens.access_token })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
  }, 30_000);

  it.skipIf(mode === 'embedded')('answers a fast 503 when a service is down, never hangs', async () => {
    await system.stop!(['auth-service']);
    try {
      const started = Date.now();
      const res = await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: newPhoneNumber() } });
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('SERVICE_UNAVAILABLE');
      expect(res.headers.get('retry-after')).toBe('1');
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await system.restart(['auth-service']);
    }
    expect((await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: newPhoneNumber() } })).status).toBe(200);
  }, 60_000);
});
