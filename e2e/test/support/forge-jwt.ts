// Tokens an attacker can make without the server's private key: none, HMAC with guessed or public
// secrets, keys of their own (with or without a kid the server uses), tampered and stripped claims.
import { createHmac, generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';

type Json = Record<string, unknown>;

const b64url = (value: Json | Buffer | string) => Buffer.from(typeof value === 'object' && !Buffer.isBuffer(value) ? JSON.stringify(value) : value).toString('base64url');

export function decodeJwt(token: string): { header: Json; payload: Json; signature: string } {
  const [header = '', payload = '', signature = ''] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Json,
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Json,
    signature,
  };
}

function signingInput(header: Json, payload: Json): string {
  return `${b64url(header)}.${b64url(payload)}`;
}

export function unsigned(header: Json, payload: Json, signature = ''): string {
  return `${signingInput(header, payload)}.${signature}`;
}

export function hs256(header: Json, payload: Json, secret: string | Buffer): string {
  const input = signingInput({ ...header, alg: 'HS256' }, payload);
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export function withKey(header: Json, payload: Json, key: KeyObject, alg: 'EdDSA' | 'ES256'): string {
  const input = signingInput({ ...header, alg }, payload);
  const signature = alg === 'EdDSA' ? sign(null, Buffer.from(input), key) : sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

export interface ForgeryContext {
  /** A real access token and refresh token of a logged-in user. */
  access: string;
  refresh: string;
  /** The public JWKS the gateway publishes, when it does. */
  jwks: Array<Json> | undefined;
}

/** Every forgery as [name, token]; none of them may be accepted anywhere. */
export function forgeries(ctx: ForgeryContext): Array<[string, string]> {
  const real = decodeJwt(ctx.access);
  const claims = real.payload;
  const header = real.header;
  const now = Math.floor(Date.now() / 1000);
  const kids = [...new Set([String(header.kid ?? 'key-1'), ...(ctx.jwks ?? []).map((k) => String(k.kid ?? ''))].filter(Boolean))];
  const ed = generateKeyPairSync('ed25519');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const edJwk = ed.publicKey.export({ format: 'jwk' }) as Json;
  const out: Array<[string, string]> = [];

  // alg none, in every spelling, with and without a signature
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    out.push([`alg ${alg}`, unsigned({ ...header, alg }, claims)]);
    out.push([`alg ${alg} with the real signature`, unsigned({ ...header, alg }, claims, real.signature)]);
  }
  // HMAC with guessed secrets, and with the public key material (algorithm confusion)
  const secrets: Array<[string, string | Buffer]> = [
    ['empty', ''],
    ['"secret"', 'secret'],
    ['random', randomBytes(32)],
    ['the real signature', real.signature],
  ];
  for (const jwk of ctx.jwks ?? []) {
    secrets.push([`JWKS key ${String(jwk.kid)} as JSON`, JSON.stringify(jwk)]);
    if (typeof jwk.x === 'string') secrets.push([`JWKS key ${String(jwk.kid)} x`, Buffer.from(jwk.x, 'base64url')]);
  }
  for (const [name, secret] of secrets) out.push([`HS256 with ${name}`, hs256(header, claims, secret)]);
  for (const alg of ['HS384', 'HS512']) out.push([`${alg} header, HS256 signature`, hs256({ ...header, alg }, claims, 'secret')]);
  // A key of the attacker's, with each kid the server knows, a new kid, and the key embedded
  for (const kid of [...kids, randomUUID()]) {
    out.push([`Ed25519 key of our own, kid ${kid}`, withKey({ ...header, kid }, claims, ed.privateKey, 'EdDSA')]);
    out.push([`P-256 key of our own, kid ${kid}`, withKey({ ...header, kid }, claims, ec.privateKey, 'ES256')]);
  }
  out.push(['embedded jwk header', withKey({ ...header, jwk: edJwk }, claims, ed.privateKey, 'EdDSA')]);
  out.push(['jku header to loopback', withKey({ ...header, jku: 'http://127.0.0.1:9/jwks.json' }, claims, ed.privateKey, 'EdDSA')]);
  out.push(['kid path traversal', withKey({ ...header, kid: '../../../../dev/null' }, claims, ed.privateKey, 'EdDSA')]);
  // The real signature over changed claims
  const tamper = (name: string, payload: Json) => out.push([`tampered: ${name}`, unsigned(header, payload, real.signature)]);
  tamper('another subject', { ...claims, sub: '+14155550199' });
  tamper('later exp', { ...claims, exp: now + 10 * 365 * 86_400 });
  tamper('typ refresh to access', { ...decodeJwt(ctx.refresh).payload, typ: 'access' });
  tamper('extra admin claim', { ...claims, admin: true });
  out.push(['real token, header typ changed', unsigned({ ...header, typ: header.typ === 'JWT' ? 'at+jwt' : 'JWT' }, claims, real.signature)]);
  out.push(['real token, header without typ', unsigned({ alg: header.alg, ...(header.kid ? { kid: header.kid } : {}) }, claims, real.signature)]);
  out.push(['real token, signature cut', `${ctx.access.split('.').slice(0, 2).join('.')}.`]);
  out.push(['real token, signature flipped', `${ctx.access.slice(0, -4)}${ctx.access.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`]);
  // Claims that must be refused, signed by a key of our own (the server's is out of reach)
  const signed = (name: string, payload: Json) => out.push([name, withKey(header, payload, ed.privateKey, 'EdDSA')]);
  signed('expired', { ...claims, iat: now - 7200, exp: now - 3600 });
  signed('wrong aud', { ...claims, aud: 'someone-else' });
  signed('wrong iss', { ...claims, iss: 'https://evil.example' });
  for (const claim of ['sub', 'typ', 'jti', 'sid', 'iat', 'exp', 'iss', 'aud']) {
    const { [claim]: _dropped, ...rest } = claims;
    signed(`missing ${claim}`, rest);
  }
  // Token-type confusion with real tokens
  out.push(['the refresh token as an access token', ctx.refresh]);
  // A "forgery" that re-serialises to the real token would be the real token: leave it out.
  return out.filter(([, token]) => token !== ctx.access);
}

/** Authorization headers that carry no usable token at all. */
export const BROKEN_AUTHORIZATION: Array<[string, string]> = [
  ['empty', ''],
  ['Bearer alone', 'Bearer'],
  ['Bearer and spaces', 'Bearer    '],
  ['Basic', `Basic ${Buffer.from('a:b').toString('base64')}`],
  ['two tokens', 'Bearer a.b.c d.e.f'],
  ['garbage', 'Bearer not-a-jwt'],
  ['four parts', 'Bearer a.b.c.d'],
  ['two parts', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0'],
  ['bad base64', 'Bearer %%%.%%%.%%%'],
  ['header not JSON', `Bearer ${b64url('not json')}.${b64url({ sub: 'x' })}.sig`],
  ['header an array', `Bearer ${b64url('[1,2]')}.${b64url({ sub: 'x' })}.sig`],
  ['payload not JSON', `Bearer ${b64url({ alg: 'EdDSA' })}.${b64url('x')}.sig`],
  ['very long token', `Bearer ${'a'.repeat(6000)}.${'b'.repeat(1000)}.c`],
  ['latin-1 bytes', 'Bearer \u00e9\u00e9.\u00e9.\u00e9'],
  ['token without scheme', 'eyJhbGciOiJIUzI1NiJ9.e30.abc'],
];
