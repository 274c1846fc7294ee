// Signing keys: parsed from a JWK Set (JWT_PRIVATE_KEYS), generated, and published as public JWKs.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { TOKEN_ALGORITHM, type Jwks, type PublicJwk } from '@repo/contracts';

/** A key of the set: the public half always, the private half unless the key is retired. */
export interface TokenKey {
  kid: string;
  publicJwk: PublicJwk;
  /** PEM (SPKI), what fast-jwt verifies with. */
  publicPem: string;
  /** PEM (PKCS#8); absent for a verify-only key. */
  privatePem?: string;
}

export interface TokenKeySet {
  /** Signs every new token. */
  signing: TokenKey & { privatePem: string };
  /** Every key whose tokens are still accepted, the signing key included. */
  verifying: TokenKey[];
}

/** A malformed key set, worded for the operator (no key material in the message). */
export class KeySetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeySetError';
  }
}

interface JwkInput {
  kty?: unknown;
  crv?: unknown;
  x?: unknown;
  d?: unknown;
  kid?: unknown;
}

/** RFC 7638 thumbprint: a stable kid derived from the public key itself. */
export function jwkThumbprint(x: string): string {
  const canonical = JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x });
  return createHash('sha256').update(canonical).digest('base64url');
}

function publicJwkOf(key: KeyObject, kid: string): PublicJwk {
  const { x } = key.export({ format: 'jwk' }) as { x: string };
  return { kty: 'OKP', crv: 'Ed25519', x, kid, alg: TOKEN_ALGORITHM, use: 'sig' };
}

function toTokenKey(jwk: JwkInput, index: number): TokenKey {
  const where = `key ${index + 1}`;
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') throw new KeySetError(`${where} is not an Ed25519 key (expected "kty":"OKP","crv":"Ed25519")`);
  if (typeof jwk.x !== 'string') throw new KeySetError(`${where} has no public part "x"`);
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(jwk.kid))) {
    throw new KeySetError(`${where} has an invalid "kid" (1-128 of A-Z a-z 0-9 . _ -)`);
  }
  const kid = (jwk.kid as string | undefined) ?? jwkThumbprint(jwk.x);
  try {
    if (typeof jwk.d === 'string') {
      const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, format: 'jwk' });
      const publicKey = createPublicKey(privateKey);
      if ((publicKey.export({ format: 'jwk' }) as { x: string }).x !== jwk.x) throw new KeySetError(`${where} ("${kid}"): "d" does not belong to "x"`);
      return {
        kid,
        publicJwk: publicJwkOf(publicKey, kid),
        publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
        privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      };
    }
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
    return { kid, publicJwk: publicJwkOf(publicKey, kid), publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
  } catch (err) {
    if (err instanceof KeySetError) throw err;
    throw new KeySetError(`${where} ("${kid}") is not a valid Ed25519 JWK`);
  }
}

/**
 * Parses a JWK Set of Ed25519 keys (`{"keys":[...]}`, or a single JWK). The key named by
 * `signingKid` signs (default: the first key with a private part); every key verifies.
 */
export function parseKeySet(json: string, signingKid?: string): TokenKeySet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new KeySetError('is not JSON (expected a JWK Set: {"keys":[{"kty":"OKP","crv":"Ed25519","x":"…","d":"…","kid":"…"}]}; see `npm run keys:generate`)');
  }
  const list = Array.isArray((parsed as { keys?: unknown })?.keys) ? (parsed as { keys: unknown[] }).keys : [parsed];
  if (list.length === 0) throw new KeySetError('holds no key');
  const keys = list.map((jwk, i) => toTokenKey((jwk ?? {}) as JwkInput, i));
  const kids = new Set<string>();
  for (const key of keys) {
    if (kids.has(key.kid)) throw new KeySetError(`has two keys with kid "${key.kid}"`);
    kids.add(key.kid);
  }
  const signing = signingKid ? keys.find((k) => k.kid === signingKid) : keys.find((k) => k.privatePem);
  if (!signing) throw new KeySetError(signingKid ? `has no key with kid "${signingKid}"` : 'has no private key (a key with "d") to sign with');
  if (!signing.privatePem) throw new KeySetError(`key "${signing.kid}" has no private part "d", so it cannot sign`);
  return { signing: signing as TokenKey & { privatePem: string }, verifying: keys };
}

/** A new Ed25519 private JWK with its thumbprint as kid. */
export function generatePrivateJwk(): { kty: 'OKP'; crv: 'Ed25519'; x: string; d: string; kid: string; alg: string; use: 'sig' } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const { x, d } = privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP', crv: 'Ed25519', x, d, kid: jwkThumbprint(x), alg: TOKEN_ALGORITHM, use: 'sig' };
}

/** A one-key set that lives as long as the process (the embedded default). */
export function ephemeralKeySet(): TokenKeySet {
  return parseKeySet(JSON.stringify({ keys: [generatePrivateJwk()] }));
}

export function publicJwks(set: TokenKeySet): Jwks {
  return { keys: set.verifying.map((k) => k.publicJwk) };
}
