import { createHmac, createPrivateKey, generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { handle, InProcessBus } from '@repo/bus';
import { TokenSubjects } from '@repo/contracts';
import { MemorySessionStore, RedisSessionMirror, RedisSessionStore } from '@repo/stores';
import { buildTokenService } from '@repo/token-service';
import { generatePrivateJwk } from '@repo/tokens';
import { buildGateway } from '../src/app.ts';

const signingKey = generatePrivateJwk();
const verification = { JWT_ISSUER: 'phone-login', JWT_AUDIENCE: 'phone-login-api', JWT_CLOCK_TOLERANCE_SECONDS: 5 };
const jwt = {
  ...verification,
  JWT_PRIVATE_KEYS: JSON.stringify({ keys: [signingKey] }),
  ACCESS_TOKEN_TTL_SECONDS: 900,
  REFRESH_TOKEN_TTL_SECONDS: 3600,
  REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: 10,
};
const settings = { ...verification, NODE_ENV: 'test' as const, LOG_LEVEL: 'silent', REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: 10, BUS_TIMEOUT_MS: 2_000, TRUST_PROXY: false, RATE_LIMIT_PER_IP_PER_MINUTE: 1_000, SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: 3 };
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
const ourKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: signingKey.x, d: signingKey.d }, format: 'jwk' });
/** Signs any header and claims with an Ed25519 key (ours, to test claim checks; another, to forge). */
function ed25519Token(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject = ourKey): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${edSign(null, Buffer.from(input), key).toString('base64url')}`;
}
const partOf = (token: string, i: 0 | 1) => JSON.parse(Buffer.from(token.split('.')[i]!, 'base64url').toString()) as Record<string, unknown>;


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

  it('refuses no token, a refresh token, alg none, HS256, another key, a wrong audience, expired', async () => {
    const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const claims = partOf(pair.access_token, 1);
    const header = partOf(pair.access_token, 0);
    const head = `${b64({ ...header, alg: 'HS256' })}.${b64(claims)}`;
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, Record<string, string>, string]> = [
      ['none', {}, 'TOKEN_MISSING'],
      ['not bearer', { authorization: `Basic ${pair.access_token}` }, 'TOKEN_MISSING'],
      ['refresh token', bearer(pair.refresh_token), 'TOKEN_INVALID'],
      ['alg none', bearer(`${b64({ ...header, alg: 'none' })}.${b64(claims)}.`), 'TOKEN_INVALID'],
      ['HS256 with the public key', bearer(`${head}.${createHmac('sha256', signingKey.x).update(head).digest('base64url')}`), 'TOKEN_INVALID'],
      ['another key under our kid', bearer(ed25519Token(header, claims, generateKeyPairSync('ed25519').privateKey)), 'TOKEN_INVALID'],
      ['unknown kid', bearer(ed25519Token({ ...header, kid: 'forged' }, claims, generateKeyPairSync('ed25519').privateKey)), 'TOKEN_INVALID'],
      ['wrong audience', bearer(ed25519Token(header, { ...claims, aud: 'other' })), 'TOKEN_INVALID'],
      ['no issuer', bearer(ed25519Token(header, { ...claims, iss: undefined })), 'TOKEN_INVALID'],
      ['typ JWT', bearer(ed25519Token({ ...header, typ: 'JWT' }, claims)), 'TOKEN_INVALID'],
      ['expired', bearer(ed25519Token(header, { ...claims, iat: now - 1000, exp: now - 100 })), 'TOKEN_EXPIRED'],
      ['garbage', bearer('garbage'), 'TOKEN_INVALID'],
    ];
    for (const [name, headers, code] of cases) {
      const res = await app.inject({ method: 'GET', url: '/api/auth/protected', headers });
      expect(res.statusCode, name).toBe(401);
      expect(res.json().code, name).toBe(code);
    }
    const refreshAsAccess = await app.inject({ method: 'GET', url: '/api/auth/protected', headers: bearer(pair.refresh_token) });
    expect(refreshAsAccess.json().message).toMatch(/refresh token was sent where an access token is expected/);
    const accessAsRefresh = await app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(pair.access_token) });
    expect(accessAsRefresh.statusCode).toBe(401);
    expect(accessAsRefresh.json()).toMatchObject({ code: 'TOKEN_INVALID', message: expect.stringMatching(/access token was sent where a refresh token is expected/) });
  });

  it('publishes the verification keys as a cacheable JWKS, without private parts', async () => {
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    expect(res.json()).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: signingKey.x, kid: signingKey.kid, alg: 'EdDSA', use: 'sig' }] });
    expect(res.body).not.toContain(signingKey.d);
  });

  it('logout-all ends every session of the number, and a later login works', async () => {
    const a = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const b = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const res = await app.inject({ method: 'DELETE', url: '/api/auth/logout-all', headers: bearer(a.access_token) });
    expect(res.json()).toEqual({ message: `Successfully logged out from all devices for ${PHONE}` });
    for (const t of [a.access_token, b.access_token]) {
      expect((await app.inject({ method: 'GET', url: '/api/auth/protected', headers: bearer(t) })).json().code).toBe('TOKEN_REVOKED');
    }
    const c = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    expect((await app.inject({ method: 'GET', url: '/api/auth/protected', headers: bearer(c.access_token) })).statusCode).toBe(200);
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

  it('refresh takes the token from the header or the body; a retry gets the same pair; an older token is REFRESH_TOKEN_REUSED', async () => {
    const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const first = await app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(pair.refresh_token) });
    expect(first.statusCode, first.body).toBe(200);
    expect(Object.keys(first.json()).sort()).toEqual(['access_token', 'refresh_token', 'token_type']);
    const retry = await app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(pair.refresh_token) });
    expect(retry.json()).toEqual(first.json());
    const second = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: first.json().refresh_token } });
    expect(second.statusCode).toBe(200);
    const replay = await app.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(pair.refresh_token) });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe('REFRESH_TOKEN_REUSED');
    const missing = await app.inject({ method: 'POST', url: '/api/auth/refresh' });
    expect(missing.json().code).toBe('TOKEN_MISSING');
  });
});

/** Sessions whose next refresh rotates at once but answers late, as when the reply is lost on the way. */
class SlowRotation extends MemorySessionStore {
  rotations = 0;
  holdNextMs = 0;

  override async rotateRefresh(...args: Parameters<MemorySessionStore['rotateRefresh']>): ReturnType<MemorySessionStore['rotateRefresh']> {
    const result = await super.rotateRefresh(...args);
    this.rotations++;
    const hold = this.holdNextMs;
    this.holdNextMs = 0;
    if (hold > 0) await new Promise((r) => setTimeout(r, hold));
    return result;
  }
}

describe('a refresh whose first attempt answers late', () => {
  // A short first attempt, so the late answer (1 s) outlasts it; the budget (5 s) does not run out.
  async function system(reuseIntervalSeconds: number) {
    const slowBus = new InProcessBus({ attemptTimeoutMs: 300, requestTimeoutMs: 5_000 });
    const slowSessions = new SlowRotation();
    const tokens = await buildTokenService({ jwt: { ...jwt, REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: reuseIntervalSeconds }, bus: slowBus, sessions: slowSessions });
    const gateway = await buildGateway({ settings: { ...settings, REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: reuseIntervalSeconds }, bus: slowBus, sessions: slowSessions });
    await tokens.ready();
    const pair = await slowBus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    slowSessions.holdNextMs = 1_000;
    const res = await gateway.inject({ method: 'POST', url: '/api/auth/refresh', headers: bearer(pair.refresh_token) });
    await gateway.close();
    await tokens.close();
    return { res, rotations: slowSessions.rotations };
  }

  it('is retried within the reuse interval: the retry gets the same pair', async () => {
    const { res, rotations } = await system(10);
    expect(res.statusCode, res.body).toBe(200);
    expect(rotations).toBe(2);
  });

  it('is not retried when the reuse interval is 0 (a retry would log the user out): the late answer is the answer', async () => {
    const { res, rotations } = await system(0);
    expect(res.statusCode, res.body).toBe(200);
    expect(rotations).toBe(1);
  });
});

describe('when token-service cannot answer', () => {
  it('fetches the verification keys again when the first attempt went to a replica that died', async () => {
    const keysBus = new InProcessBus({ attemptTimeoutMs: 300, requestTimeoutMs: 5_000 });
    let wake!: () => void;
    const never = new Promise<never>((_, reject) => (wake = () => reject(new Error('the test is over'))));
    never.catch(() => undefined);
    // Registered first, so the first request goes to it; the live token-service takes the retry.
    const silentLog = { info() {}, warn() {}, error() {}, child: () => silentLog };
    const dead = await keysBus.serve({ name: 'dead-token-service', version: '1.0.0', log: silentLog }, [handle(TokenSubjects.publicKeys, () => never)]);
    const tokens = await buildTokenService({ jwt, bus: keysBus, sessions });
    const gateway = await buildGateway({ settings, bus: keysBus, sessions });
    try {
      await tokens.ready();
      const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
      const started = Date.now();
      const res = await gateway.inject({ method: 'GET', url: '/api/auth/protected', headers: bearer(pair.access_token) });
      expect(res.statusCode, res.body).toBe(200);
      // One short attempt lost, not the whole budget.
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      wake();
      await gateway.close();
      await tokens.close();
      await dead.stop();
    }
  });

  it('answers protected routes 503 fast while the verification keys were never loaded', async () => {
    const gateway = await buildGateway({ settings, bus: new InProcessBus(), sessions });
    const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const res = await gateway.inject({ method: 'GET', url: '/api/auth/protected', headers: bearer(pair.access_token) });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('SERVICE_UNAVAILABLE');
    expect((await gateway.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode).toBe(503);
    await gateway.close();
  });
});

describe('when Redis cannot answer', () => {
  it.each([
    ['the session store', (redis: Redis) => new RedisSessionStore(redis)],
    ['the session mirror', (redis: Redis) => {
      const mirror = new RedisSessionMirror(redis);
      mirror.start();
      return mirror;
    }],
  ])('fails closed with %s: protected routes answer 503 STORE_UNAVAILABLE fast', async (_, sessionsOn) => {
    const dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    dead.on('error', () => undefined);
    const sessions = sessionsOn(dead);
    const gateway = await buildGateway({ settings, bus, sessions });
    const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
    const started = Date.now();
    const res = await gateway.inject({ method: 'GET', url: '/api/auth/protected', headers: bearer(pair.access_token) });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('STORE_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(1_000);
    const ready = await gateway.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(503);
    await gateway.close();
    if (sessions instanceof RedisSessionMirror) await sessions.close();
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
