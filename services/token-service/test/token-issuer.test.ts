import { createHmac } from 'node:crypto';
import { createSigner, createDecoder } from 'fast-jwt';
import { describe, expect, it } from 'vitest';
import { InProcessBus } from '@repo/bus';
import { TokenSubjects, type TokenClaims } from '@repo/contracts';
import { MemorySessionStore } from '@repo/stores';
import { buildTokenService } from '../src/app.ts';
import { TokenIssuer } from '../src/token-issuer.ts';

const jwt = {
  JWT_SECRET: 's'.repeat(40),
  JWT_ISSUER: 'phone-login',
  JWT_AUDIENCE: 'phone-login-api',
  ACCESS_TOKEN_TTL_SECONDS: 900,
  REFRESH_TOKEN_TTL_SECONDS: 3600,
};
const decode = createDecoder() as (t: string) => TokenClaims;
const PHONE = '+14155552671';

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('TokenIssuer', () => {
  it('issues typed access and refresh tokens of one session', async () => {
    const issuer = new TokenIssuer(jwt, new MemorySessionStore());
    const pair = await issuer.issuePair(PHONE);
    expect(pair.token_type).toBe('Bearer');
    const access = decode(pair.access_token);
    const refresh = decode(pair.refresh_token);
    expect(access).toMatchObject({ sub: PHONE, typ: 'access', iss: 'phone-login', aud: 'phone-login-api' });
    expect(refresh).toMatchObject({ sub: PHONE, typ: 'refresh' });
    expect(access.sid).toBe(refresh.sid);
    expect(access.jti).not.toBe(refresh.jti);
    expect(access.exp - access.iat).toBe(900);
    expect(refresh.exp - refresh.iat).toBe(3600);
  });

  it('rotates the refresh token and rejects the spent one as reuse, killing the session', async () => {
    const sessions = new MemorySessionStore();
    const issuer = new TokenIssuer(jwt, sessions);
    const first = await issuer.issuePair(PHONE);
    const second = await issuer.refresh(first.refresh_token);
    expect(decode(second.refresh_token).jti).not.toBe(decode(first.refresh_token).jti);
    expect(decode(second.access_token).sid).toBe(decode(first.access_token).sid);
    await expect(issuer.refresh(first.refresh_token)).rejects.toMatchObject({ code: 'REFRESH_TOKEN_REUSED', statusCode: 401 });
    expect(await sessions.isSessionRevoked(decode(first.access_token).sid)).toBe(true);
    await expect(issuer.refresh(second.refresh_token)).rejects.toMatchObject({ code: 'TOKEN_REVOKED' });
  });

  it('refuses an access token where a refresh token is expected', async () => {
    const issuer = new TokenIssuer(jwt, new MemorySessionStore());
    const pair = await issuer.issuePair(PHONE);
    await expect(issuer.refresh(pair.access_token)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
  });

  it('refuses alg none, a wrong key, a wrong audience, an expired token and garbage', async () => {
    const issuer = new TokenIssuer(jwt, new MemorySessionStore());
    const pair = await issuer.issuePair(PHONE);
    const claims = decode(pair.refresh_token);
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
    expect(() => issuer.verifyToken(unsigned, 'refresh')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));

    const head = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
    const wrongKey = `${head}.${createHmac('sha256', 'x'.repeat(40)).update(head).digest('base64url')}`;
    expect(() => issuer.verifyToken(wrongKey, 'refresh')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));

    const otherAudience = createSigner({ key: jwt.JWT_SECRET, iss: jwt.JWT_ISSUER, aud: 'someone-else', expiresIn: 60_000 })({ ...claims, aud: undefined, iss: undefined, exp: undefined, iat: undefined });
    expect(() => issuer.verifyToken(otherAudience, 'refresh')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));

    const expired = createSigner({ key: jwt.JWT_SECRET })({ ...claims, iat: 1_000, exp: 2_000 });
    expect(() => issuer.verifyToken(expired, 'refresh')).toThrow(expect.objectContaining({ code: 'TOKEN_EXPIRED' }));

    expect(() => issuer.verifyToken('not.a.jwt', 'refresh')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
  });
});

describe('token-service on the bus', () => {
  it('serves issue, refresh and revoke endpoints', async () => {
    const bus = new InProcessBus();
    const sessions = new MemorySessionStore();
    const app = await buildTokenService({ jwt, bus, sessions });
    await app.ready();
    try {
      const pair = await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
      const rotated = await bus.request(TokenSubjects.refreshPair, { refresh_token: pair.refresh_token });
      expect(rotated.token_type).toBe('Bearer');
      const { sid } = decode(pair.access_token);
      await bus.request(TokenSubjects.issuePair, { phone_number: PHONE });
      expect(await bus.request(TokenSubjects.revokeSubject, { sub: PHONE })).toEqual({ revoked_sessions: 2 });
      expect(await sessions.isSessionRevoked(sid)).toBe(true);
      await expect(bus.request(TokenSubjects.refreshPair, { refresh_token: rotated.refresh_token })).rejects.toMatchObject({ code: 'TOKEN_REVOKED' });
    } finally {
      await app.close();
    }
    await expect(bus.request(TokenSubjects.issuePair, { phone_number: PHONE })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });
});
