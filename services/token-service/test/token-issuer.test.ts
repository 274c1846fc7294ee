import { describe, expect, it } from 'vitest';
import { InProcessBus } from '@repo/bus';
import { TokenSubjects, type TokenClaims } from '@repo/contracts';
import { ConfigError } from '@repo/runtime';
import { MemorySessionStore } from '@repo/stores';
import { generatePrivateJwk, TokenVerifier } from '@repo/tokens';
import { buildTokenService } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { TokenIssuer } from '../src/token-issuer.ts';

const signingKey = generatePrivateJwk();
const jwt = {
  JWT_PRIVATE_KEYS: JSON.stringify({ keys: [signingKey] }),
  JWT_ISSUER: 'phone-login',
  JWT_AUDIENCE: 'phone-login-api',
  JWT_CLOCK_TOLERANCE_SECONDS: 5,
  ACCESS_TOKEN_TTL_SECONDS: 900,
  REFRESH_TOKEN_TTL_SECONDS: 3600,
  REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: 10,
};
const decode = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as TokenClaims;
const PHONE = '+14155552671';

describe('TokenIssuer', () => {
  it('issues typed access and refresh tokens of one session, signed with the configured kid', async () => {
    const issuer = new TokenIssuer(jwt, new MemorySessionStore());
    const pair = await issuer.issuePair(PHONE);
    const header = JSON.parse(Buffer.from(pair.access_token.split('.')[0]!, 'base64url').toString()) as Record<string, string>;
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: signingKey.kid });
    const access = decode(pair.access_token);
    const refresh = decode(pair.refresh_token);
    expect(access).toMatchObject({ sub: PHONE, typ: 'access', iss: 'phone-login', aud: 'phone-login-api' });
    expect(refresh).toMatchObject({ sub: PHONE, typ: 'refresh' });
    expect(access.sid).toBe(refresh.sid);
    expect(access.jti).not.toBe(refresh.jti);
    expect(access.exp - access.iat).toBe(900);
    expect(refresh.exp - refresh.iat).toBe(3600);
    // Verifiable with nothing but the published public keys.
    const verifier = new TokenVerifier({ issuer: 'phone-login', audience: 'phone-login-api', clockToleranceSeconds: 0 }, issuer.publicKeys());
    expect(verifier.verify(pair.access_token, 'access').sub).toBe(PHONE);
    expect(JSON.stringify(issuer.publicKeys())).not.toContain(signingKey.d);
  });

  it('answers a retried refresh within the reuse interval with the same pair, and keeps the session', async () => {
    const sessions = new MemorySessionStore();
    const issuer = new TokenIssuer(jwt, sessions);
    const first = await issuer.issuePair(PHONE);
    const second = await issuer.refresh(first.refresh_token);
    expect(decode(second.refresh_token).jti).not.toBe(decode(first.refresh_token).jti);
    expect(decode(second.access_token).sid).toBe(decode(first.access_token).sid);
    expect(await issuer.refresh(first.refresh_token)).toEqual(second);
    const third = await issuer.refresh(second.refresh_token);
    expect(await sessions.isSessionActive(decode(third.access_token).sid, PHONE)).toBe(true);
  });

  it('answers 20 concurrent refreshes of one token with one pair (two tabs, retries)', async () => {
    const sessions = new MemorySessionStore();
    const issuer = new TokenIssuer(jwt, sessions);
    const first = await issuer.issuePair(PHONE);
    const results = await Promise.all(Array.from({ length: 20 }, () => issuer.refresh(first.refresh_token)));
    for (const r of results) expect(r).toEqual(results[0]);
    expect(await sessions.isSessionActive(decode(first.access_token).sid, PHONE)).toBe(true);
    expect((await issuer.refresh(results[0]!.refresh_token)).token_type).toBe('Bearer');
  });

  it('treats an older refresh token, or the previous one without a reuse interval, as reuse and kills the session', async () => {
    const sessions = new MemorySessionStore();
    const strict = new TokenIssuer({ ...jwt, REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: 0 }, sessions);
    const first = await strict.issuePair(PHONE);
    const second = await strict.refresh(first.refresh_token);
    await expect(strict.refresh(first.refresh_token)).rejects.toMatchObject({ code: 'REFRESH_TOKEN_REUSED', statusCode: 401 });
    await expect(strict.refresh(second.refresh_token)).rejects.toMatchObject({ code: 'TOKEN_REVOKED' });

    const issuer = new TokenIssuer(jwt, sessions);
    const a = await issuer.issuePair(PHONE);
    const b = await issuer.refresh(a.refresh_token);
    await issuer.refresh(b.refresh_token);
    await expect(issuer.refresh(a.refresh_token)).rejects.toMatchObject({ code: 'REFRESH_TOKEN_REUSED' });
    expect(await sessions.isSessionActive(decode(a.access_token).sid, PHONE)).toBe(false);
  });

  it('refuses an access token where a refresh token is expected, saying so', async () => {
    const issuer = new TokenIssuer(jwt, new MemorySessionStore());
    const pair = await issuer.issuePair(PHONE);
    await expect(issuer.refresh(pair.access_token)).rejects.toMatchObject({ code: 'TOKEN_INVALID', message: expect.stringMatching(/access token was sent where a refresh token is expected/) });
  });

  it('refuses tokens of another signer, and of a key removed from the set', async () => {
    const other = new TokenIssuer({ ...jwt, JWT_PRIVATE_KEYS: JSON.stringify({ keys: [generatePrivateJwk()] }) }, new MemorySessionStore());
    const issuer = new TokenIssuer(jwt, new MemorySessionStore());
    await expect(issuer.refresh((await other.issuePair(PHONE)).refresh_token)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
  });

  it('ends every earlier session on logout-all, and refresh tokens of them too', async () => {
    const sessions = new MemorySessionStore();
    const issuer = new TokenIssuer(jwt, sessions);
    const a = await issuer.issuePair(PHONE);
    const b = await issuer.issuePair(PHONE);
    expect(await issuer.revokeSubject(PHONE)).toBe(2);
    await expect(issuer.refresh(a.refresh_token)).rejects.toMatchObject({ code: 'TOKEN_REVOKED' });
    expect(await sessions.isSessionActive(decode(b.access_token).sid, PHONE)).toBe(false);
    const c = await issuer.issuePair(PHONE);
    expect(await sessions.isSessionActive(decode(c.access_token).sid, PHONE)).toBe(true);
  });
});

describe('configuration', () => {
  const base = { NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL: 'redis://127.0.0.1:6379' };
  it('refuses a missing or malformed key set with one line naming JWT_PRIVATE_KEYS', () => {
    expect(() => loadConfig(base)).toThrow(ConfigError);
    expect(() => loadConfig(base)).toThrow(/^JWT_PRIVATE_KEYS is required/);
    expect(() => loadConfig({ ...base, JWT_PRIVATE_KEYS: 'secret-but-not-json' })).toThrow(/^JWT_PRIVATE_KEYS is not JSON/);
    expect(() => loadConfig({ ...base, JWT_PRIVATE_KEYS: jwt.JWT_PRIVATE_KEYS, JWT_SIGNING_KEY_ID: 'nope' })).toThrow(/^JWT_PRIVATE_KEYS has no key with kid "nope"/);
    expect(loadConfig({ ...base, JWT_PRIVATE_KEYS: jwt.JWT_PRIVATE_KEYS }).JWT_PRIVATE_KEYS).toBe(jwt.JWT_PRIVATE_KEYS);
  });
});

describe('token-service on the bus', () => {
  it('serves issue, refresh, public keys and revoke endpoints', async () => {
    const bus = new InProcessBus();
    const sessions = new MemorySessionStore();
    const app = await buildTokenService({ jwt, bus, sessions });
    await app.ready();
    try {
      const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
      const rotated = await bus.request(TokenSubjects.refreshPair, { refresh_token: pair.refresh_token });
      expect(rotated.token_type).toBe('Bearer');
      expect(await bus.request(TokenSubjects.publicKeys, {})).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: signingKey.x, kid: signingKey.kid, alg: 'EdDSA', use: 'sig' }] });
      const { sid } = decode(pair.access_token);
      await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
      expect(await bus.request(TokenSubjects.revokeSubject, { sub: PHONE })).toEqual({ revoked_sessions: 2 });
      expect(await sessions.isSessionActive(sid, PHONE)).toBe(false);
      await expect(bus.request(TokenSubjects.refreshPair, { refresh_token: rotated.refresh_token })).rejects.toMatchObject({ code: 'TOKEN_REVOKED' });
    } finally {
      await app.close();
    }
    await expect(bus.request(TokenSubjects.issuePair, { phone_number: PHONE })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });
});
