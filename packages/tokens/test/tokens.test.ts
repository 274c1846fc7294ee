import { createHmac, generateKeyPairSync, sign as edSign } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { TOKEN_HEADER_TYPES } from '@repo/contracts';
import { ephemeralKeySet, generatePrivateJwk, KeySetError, parseKeySet, publicJwks, TokenSigner, TokenVerifier, UnknownKeyIdError } from '../src/index.ts';

const PHONE = '+14155552671';
const settings = { issuer: 'phone-login', audience: 'phone-login-api' };
const signerSettings = { ...settings, accessTtlSeconds: 900, refreshTtlSeconds: 3600 };
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const decode = (t: string, part: 0 | 1) => JSON.parse(Buffer.from(t.split('.')[part]!, 'base64url').toString()) as Record<string, unknown>;

/** Signs any header and payload with a raw Ed25519 private key: forgeries made the right way. */
function ed25519Token(header: Record<string, unknown>, payload: Record<string, unknown>, privatePem: string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${edSign(null, Buffer.from(input), privatePem).toString('base64url')}`;
}

describe('key sets', () => {
  it('parses a JWK Set, signs with the first private key and verifies with all', () => {
    const a = generatePrivateJwk();
    const b = generatePrivateJwk();
    const set = parseKeySet(JSON.stringify({ keys: [a, b] }));
    expect(set.signing.kid).toBe(a.kid);
    expect(set.verifying.map((k) => k.kid)).toEqual([a.kid, b.kid]);
    expect(parseKeySet(JSON.stringify({ keys: [a, b] }), b.kid).signing.kid).toBe(b.kid);
    // Published keys carry no private part.
    expect(JSON.stringify(publicJwks(set))).not.toContain(a.d);
    expect(publicJwks(set).keys[0]).toEqual({ kty: 'OKP', crv: 'Ed25519', x: a.x, kid: a.kid, alg: 'EdDSA', use: 'sig' });
  });

  it('keeps a verify-only key (no "d") for tokens signed before a rotation', () => {
    const current = generatePrivateJwk();
    const { d: _d, ...retired } = generatePrivateJwk();
    const set = parseKeySet(JSON.stringify({ keys: [current, retired] }));
    expect(set.verifying).toHaveLength(2);
    expect(() => parseKeySet(JSON.stringify({ keys: [retired] }))).toThrow(/no private key/);
    expect(() => parseKeySet(JSON.stringify({ keys: [current, retired] }), retired.kid)).toThrow(/cannot sign/);
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['empty', '{"keys":[]}', /no key/],
    ['not Ed25519', JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'private-part-value' }] }), /not an Ed25519 key/],
    ['a broken x', JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'short', d: 'private-part-value' }] }), /not a valid Ed25519 JWK/],
    ['a d of another key', JSON.stringify({ keys: [{ ...generatePrivateJwk(), d: generatePrivateJwk().d }] }), /does not belong/],
    ['duplicate kids', JSON.stringify({ keys: [{ ...generatePrivateJwk(), kid: 'k' }, { ...generatePrivateJwk(), kid: 'k' }] }), /two keys with kid "k"/],
    ['a bad kid', JSON.stringify({ keys: [{ ...generatePrivateJwk(), kid: 'a b' }] }), /invalid "kid"/],
  ])('refuses %s with a clear message that leaks no key material', (_name, json, message) => {
    let error: unknown;
    try {
      parseKeySet(json);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(KeySetError);
    expect((error as Error).message).toMatch(message);
    for (const [, d] of json.matchAll(/"d":"([^"]+)"/g)) expect((error as Error).message).not.toContain(d);
  });
});

describe('signing and verifying', () => {
  const keys = ephemeralKeySet();
  const signer = new TokenSigner(keys, signerSettings);
  const verifier = new TokenVerifier({ ...settings, clockToleranceSeconds: 5 }, publicJwks(keys));
  const pair = signer.signPair(PHONE, 'sid-1', 'refresh-jti');

  it('signs typed tokens with kid and every claim, and verifies them', () => {
    expect(decode(pair.access_token, 0)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: keys.signing.kid });
    expect(decode(pair.refresh_token, 0)).toEqual({ alg: 'EdDSA', typ: 'rt+jwt', kid: keys.signing.kid });
    const access = verifier.verify(pair.access_token, 'access');
    expect(access).toMatchObject({ sub: PHONE, sid: 'sid-1', typ: 'access', iss: 'phone-login', aud: 'phone-login-api' });
    expect(access.exp - access.iat).toBe(900);
    const refresh = verifier.verify(pair.refresh_token, 'refresh');
    expect(refresh).toMatchObject({ jti: 'refresh-jti', typ: 'refresh' });
    expect(refresh.exp - refresh.iat).toBe(3600);
  });

  it('verifies with a standard JOSE library and the published JWKS', async () => {
    const { payload, protectedHeader } = await jwtVerify(pair.access_token, createLocalJWKSet(publicJwks(keys)), {
      issuer: 'phone-login',
      audience: 'phone-login-api',
      typ: 'at+jwt',
    });
    expect(payload.sub).toBe(PHONE);
    expect(protectedHeader.kid).toBe(keys.signing.kid);
  });

  it('refuses one token type where the other is expected, saying which was sent', () => {
    expect(() => verifier.verify(pair.refresh_token, 'access')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID', message: expect.stringMatching(/refresh token was sent where an access token/) }));
    expect(() => verifier.verify(pair.access_token, 'refresh')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID', message: expect.stringMatching(/access token was sent where a refresh token/) }));
  });

  it('refuses forgeries: alg none, HS256 with the public key, another key under our kid, tampering', () => {
    const claims = decode(pair.access_token, 1);
    const header = decode(pair.access_token, 0);
    const forged: string[] = [];
    forged.push(`${b64({ ...header, alg: 'none' })}.${b64(claims)}.`);
    const hsInput = `${b64({ ...header, alg: 'HS256' })}.${b64(claims)}`;
    forged.push(`${hsInput}.${createHmac('sha256', keys.signing.publicPem).update(hsInput).digest('base64url')}`);
    const attacker = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    forged.push(ed25519Token(header, claims, attacker));
    const [h, , s] = pair.access_token.split('.');
    forged.push(`${h}.${b64({ ...claims, sub: '+14155550000' })}.${s}`);
    forged.push(`${h}.${b64(claims)}.${s!.slice(0, -4)}AAAA`);
    for (const token of forged) expect(() => verifier.verify(token, 'access'), token).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
  });

  it('refuses a missing or wrong iss, aud, typ, sid, jti, sub (signed with our own key)', () => {
    const claims = decode(pair.access_token, 1);
    const header = decode(pair.access_token, 0);
    const variants: Array<Record<string, unknown>> = [
      { ...claims, iss: undefined },
      { ...claims, aud: undefined },
      { ...claims, iss: 'someone-else' },
      { ...claims, aud: 'another-api' },
      { ...claims, typ: 'refresh' },
      { ...claims, sid: undefined },
      { ...claims, jti: undefined },
      { ...claims, sub: 'not-a-phone' },
      { ...claims, iat: undefined },
      { ...claims, exp: undefined },
    ];
    for (const payload of variants) {
      const token = ed25519Token(header, payload, keys.signing.privatePem);
      expect(() => verifier.verify(token, 'access'), JSON.stringify(payload)).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
    }
    for (const h of [{ ...header, typ: 'JWT' }, { ...header, typ: undefined }, { ...header, kid: undefined }]) {
      expect(() => verifier.verify(ed25519Token(h, claims, keys.signing.privatePem), 'access')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
    }
  });

  it('reports an expired token as such, within the clock tolerance', () => {
    const header = decode(pair.access_token, 0);
    const claims = decode(pair.access_token, 1);
    const now = Math.floor(Date.now() / 1000);
    const expired = ed25519Token(header, { ...claims, iat: now - 100, exp: now - 60 }, keys.signing.privatePem);
    expect(() => verifier.verify(expired, 'access')).toThrow(expect.objectContaining({ code: 'TOKEN_EXPIRED' }));
    const justExpired = ed25519Token(header, { ...claims, iat: now - 100, exp: now - 2 }, keys.signing.privatePem);
    expect(verifier.verify(justExpired, 'access').sub).toBe(PHONE);
  });

  it('does not let a cached verification outlive the token', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const shortLived = new TokenSigner(keys, { ...signerSettings, accessTtlSeconds: 60 }).signPair(PHONE, 's', 'j').access_token;
      expect(verifier.verify(shortLived, 'access').sub).toBe(PHONE);
      expect(verifier.verify(shortLived, 'access').sub).toBe(PHONE);
      vi.setSystemTime(Date.now() + 66_000);
      expect(() => verifier.verify(shortLived, 'access')).toThrow(expect.objectContaining({ code: 'TOKEN_EXPIRED' }));
    } finally {
      vi.useRealTimers();
    }
  });

  it('forgets what it checked when its keys are replaced', () => {
    const v = new TokenVerifier({ ...settings, clockToleranceSeconds: 5 }, publicJwks(keys));
    expect(v.verify(pair.access_token, 'access').sub).toBe(PHONE);
    expect(v.verify(pair.access_token, 'access').sub).toBe(PHONE);
    v.setKeys(publicJwks(ephemeralKeySet()));
    expect(() => v.verify(pair.access_token, 'access')).toThrow(UnknownKeyIdError);
    v.setKeys(publicJwks(keys));
    expect(v.verify(pair.access_token, 'access').sub).toBe(PHONE);
  });

  it("never takes a checked token's answer for another token with the same signature", () => {
    const v = new TokenVerifier({ ...settings, clockToleranceSeconds: 5 }, publicJwks(keys));
    const [head, payload, signature] = pair.access_token.split('.');
    const claims = decode(pair.access_token, 1);
    // The real signature under other claims (another subject), and under the same claims re-encoded.
    const otherClaims = `${head}.${Buffer.from(JSON.stringify({ ...claims, sub: '+14155550199' })).toString('base64url')}.${signature}`;
    const padded = `${head}.${payload}=.${signature}`;
    for (let i = 0; i < 3; i++) {
      expect(v.verify(pair.access_token, 'access').sub).toBe(PHONE);
      expect(() => v.verify(otherClaims, 'access')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
      expect(() => v.verify(padded, 'access')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
    }
  });

  it('answers a token checked before as it did the first time, for the type asked', () => {
    const v = new TokenVerifier({ ...settings, clockToleranceSeconds: 5 }, publicJwks(keys));
    const [head, payload, signature] = pair.access_token.split('.');
    const forged = `${head}.${payload}.${signature!.slice(0, -6)}AAAAAA`;
    for (let i = 0; i < 3; i++) {
      expect(v.verify(pair.access_token, 'access').sid).toBe('sid-1');
      expect(() => v.verify(pair.access_token, 'refresh')).toThrow(/An access token was sent where a refresh token is expected/);
      expect(() => v.verify(forged, 'access')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
      expect(v.verify(pair.refresh_token, 'refresh').typ).toBe('refresh');
    }
  });

  it('flags an unknown kid so the caller can refresh its keys, and garbage as invalid', () => {
    const other = ephemeralKeySet();
    const foreign = new TokenSigner(other, signerSettings).signPair(PHONE, 's', 'j');
    expect(() => verifier.verify(foreign.access_token, 'access')).toThrow(UnknownKeyIdError);
    for (const garbage of ['', 'a.b', 'a.b.c', 'not.a.jwt', `${'x'.repeat(5000)}.y.z`, `${b64([1])}.${b64({})}.`]) {
      expect(() => verifier.verify(garbage, 'access')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
    }
  });

  it('verifies tokens of every key in a rotated set', () => {
    const old = ephemeralKeySet();
    const oldToken = new TokenSigner(old, signerSettings).signPair(PHONE, 's', 'j').access_token;
    const rotated = parseKeySet(JSON.stringify({ keys: [generatePrivateJwk(), { ...old.signing.publicJwk }] }));
    const v = new TokenVerifier({ ...settings, clockToleranceSeconds: 0 }, publicJwks(rotated));
    expect(v.verify(oldToken, 'access').sub).toBe(PHONE);
    expect(v.verify(new TokenSigner(rotated, signerSettings).signPair(PHONE, 's', 'j').access_token, 'access').sub).toBe(PHONE);
    expect(TOKEN_HEADER_TYPES.access).toBe('at+jwt');
  });
});
