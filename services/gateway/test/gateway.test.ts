import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner } from 'fast-jwt';
import { Redis } from 'ioredis';
import { InProcessBus } from '@repo/bus';
import { TokenSubjects } from '@repo/contracts';
import { MemorySessionStore, RedisSessionStore } from '@repo/stores';
import { buildTokenService } from '@repo/token-service';
import { buildGateway } from '../src/app.ts';

const jwt = {
  JWT_SECRET: 'g'.repeat(40),
  JWT_ISSUER: 'phone-login',
  JWT_AUDIENCE: 'phone-login-api',
  ACCESS_TOKEN_TTL_SECONDS: 900,
  REFRESH_TOKEN_TTL_SECONDS: 3600,
};
const settings = { ...jwt, NODE_ENV: 'test' as const, LOG_LEVEL: 'silent', BUS_TIMEOUT_MS: 2_000, TRUST_PROXY: false, RATE_LIMIT_PER_IP_PER_MINUTE: 1_000, SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: 3 };
const PHONE = '+14155552671';

const bus = new InProcessBus();
const sessions = new MemorySessionStore();
const tokenService = await buildTokenService({ jwt, bus, sessions });
const app = await buildGateway({ settings, bus, sessions });

beforeAll(async () => {
  await tokenService.ready();
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await tokenService.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('input validation', () => {
  it('rejects a malformed phone number with INVALID_PHONE_NUMBER', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/auth/send-verification', payload: { phone_number: '12345' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'INVALID_PHONE_NUMBER' });
  });

  it('rejects a missing field, an unknown channel and a non-numeric code with VALIDATION_ERROR', async () => {
    for (const [url, payload] of [
      ['/api/auth/send-verification', {}],
      ['/api/auth/send-verification', { phone_number: PHONE, channel: 'pigeon' }],
      ['/api/auth/verify-code', { phone_number: PHONE, code: 'abc' }],
    ] as const) {
      const res = await app.inject({ method: 'POST', url, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().code).toBe('VALIDATION_ERROR');
    }
  });

  it('answers broken JSON with INVALID_JSON, not a 500', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/auth/send-verification',
      headers: { 'content-type': 'application/json' },
      payload: '{"phone_number":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('INVALID_JSON');
  });

  it('answers an unknown route with NOT_FOUND', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('a service that is down', () => {
  it('answers 503 SERVICE_UNAVAILABLE at once when no auth-service is running', async () => {
    const started = Date.now();
    const res = await app.inject({ method: 'POST', url: '/api/auth/send-verification', payload: { phone_number: PHONE } });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('SERVICE_UNAVAILABLE');
    expect(res.headers['retry-after']).toBe('1');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('protected routes', () => {
  it('lets a fresh access token in and echoes the request id', async () => {
    const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const res = await app.inject({ method: 'GET', url: '/api/auth/protected', headers: { ...bearer(pair.access_token), 'x-request-id': 'abc-123' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'This is a protected route', phone_number: PHONE });
    expect(res.headers['x-request-id']).toBe('abc-123');
  });

  it('refuses no token, a refresh token, alg none, a wrong key and a wrong audience', async () => {
    const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const claims = JSON.parse(Buffer.from(pair.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
    const cases: Array<[string, Record<string, string>, string]> = [
      ['none', {}, 'TOKEN_MISSING'],
      ['refresh token', bearer(pair.refresh_token), 'TOKEN_INVALID'],
      ['alg none', bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`), 'TOKEN_INVALID'],
      ['wrong key', bearer(`${head}.${createHmac('sha256', 'x'.repeat(40)).update(head).digest('base64url')}`), 'TOKEN_INVALID'],
      ['wrong audience', bearer(createSigner({ key: jwt.JWT_SECRET })({ ...claims, aud: 'other' })), 'TOKEN_INVALID'],
      ['expired', bearer(createSigner({ key: jwt.JWT_SECRET })({ ...claims, iat: 1000, exp: 2000 })), 'TOKEN_EXPIRED'],
      ['garbage', bearer('garbage'), 'TOKEN_INVALID'],
    ];
    for (const [name, headers, code] of cases) {
      const res = await app.inject({ method: 'GET', url: '/api/auth/protected', headers });
      expect(res.statusCode, name).toBe(401);
      expect(res.json().code, name).toBe(code);
    }
  });

  it('logout revokes the session: its access and refresh tokens die, other sessions live', async () => {
    const mine = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const other = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const res = await app.inject({ method: 'DELETE', url: '/api/auth/logout', headers: bearer(mine.access_token) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'Successfully logged out' });
    const again = await app.inject({ method: 'GET', url: '/api/auth/protected', headers: bearer(mine.access_token) });
    expect(again.statusCode).toBe(401);
    expect(again.json().code).toBe('TOKEN_REVOKED');
    const refresh = await app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(mine.refresh_token) });
    expect(refresh.json().code).toBe('TOKEN_REVOKED');
    const otherRes = await app.inject({ method: 'GET', url: '/api/auth/protected', headers: bearer(other.access_token) });
    expect(otherRes.statusCode).toBe(200);
  });

  it('refresh takes the token from the header or the body, and a replay is REFRESH_TOKEN_REUSED', async () => {
    const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const first = await app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(pair.refresh_token) });
    expect(first.statusCode, first.body).toBe(200);
    expect(Object.keys(first.json()).sort()).toEqual(['access_token', 'refresh_token', 'token_type']);
    const second = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: first.json().refresh_token } });
    expect(second.statusCode).toBe(200);
    const replay = await app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(pair.refresh_token) });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe('REFRESH_TOKEN_REUSED');
    const missing = await app.inject({ method: 'POST', url: '/api/auth/refresh' });
    expect(missing.json().code).toBe('TOKEN_MISSING');
  });
});

describe('when Redis cannot answer', () => {
  it('fails closed: protected routes answer 503 STORE_UNAVAILABLE fast', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    const gateway = await buildGateway({ settings, bus, sessions: new RedisSessionStore(dead) });
    const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const started = Date.now();
    const res = await gateway.inject({ method: 'GET', url: '/api/auth/protected', headers: bearer(pair.access_token) });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('STORE_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(1_000);
    const ready = await gateway.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(503);
    await gateway.close();
    dead.disconnect();
  });
});

describe('docs', () => {
  it('serves an OpenAPI 3 document listing the auth routes', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/auth/send-verification', '/api/auth/verify-code', '/api/auth/refresh']));
  });
});

describe('rate limits', () => {
  it('limits codes per phone number, whatever its formatting, with RATE_LIMITED and Retry-After', async () => {
    const gateway = await buildGateway({ settings: { ...settings, SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: 2 }, bus, sessions });
    const send = (phone_number: string) => gateway.inject({ method: 'POST', url: '/api/auth/send-verification', payload: { phone_number } });
    // No auth-service runs here: allowed requests answer 503, limited ones 429.
    expect((await send('+14155550001')).statusCode).toBe(503);
    expect((await send('+1 415 555 0001')).statusCode).toBe(503);
    const limited = await send('+1-415-555-0001');
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await send('+14155550002')).statusCode).toBe(503);
    await gateway.close();
  });

  it('limits requests per IP on other routes, but never health checks', async () => {
    const gateway = await buildGateway({ settings: { ...settings, RATE_LIMIT_PER_IP_PER_MINUTE: 2 }, bus, sessions });
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await gateway.inject({ method: 'POST', url: '/api/auth/refresh' })).json().code);
    expect(codes).toEqual(['TOKEN_MISSING', 'TOKEN_MISSING', 'RATE_LIMITED']);
    for (let i = 0; i < 5; i++) expect((await gateway.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    await gateway.close();
  });
});
