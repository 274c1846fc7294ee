// Verifies our tokens with public keys only: pinned algorithm, known kid, header typ, every claim.
import { createVerifier, TokenError } from 'fast-jwt';
import { LRUCache } from 'lru-cache';
import { AppError, TOKEN_ALGORITHM, TOKEN_HEADER_TYPES, type Jwks, type TokenClaims, type TokenType } from '@repo/contracts';
import { createPublicKey } from 'node:crypto';

export interface VerifierSettings {
  issuer: string;
  audience: string;
  /** Accepted clock difference between signer and verifier, in seconds. */
  clockToleranceSeconds: number;
}

/** The token names a `kid` this verifier does not know (yet): a caller may refresh its keys and retry. */
export class UnknownKeyIdError extends AppError {
  constructor(readonly kid: string) {
    super('TOKEN_INVALID', 'The token is signed with an unknown key');
    this.name = 'UnknownKeyIdError';
  }
}

const REQUIRED_CLAIMS = ['sub', 'typ', 'jti', 'sid', 'iat', 'exp', 'iss', 'aud'];
// An Ed25519 check costs ~0.1 ms, most of a protected request. A token already checked is looked up
// instead, in a bounded LRU per expected type, keyed by its signature (the map hashes 86
// characters, not the whole token's 400 or so, which each request brings as a new string) and
// taken only if the whole token is the one checked; `exp` is re-checked on every hit. It changes
// nothing about revocation, which is the session check, asked on every request. Keys being
// replaced empties the cache.
const VERIFIED_CACHE_SIZE = 10_000;
const REFUSED_CACHE_TTL_MS = 60_000;
// Our tokens are about 400 characters: longer ones are checked every time rather than cached, so
// forged tokens cannot make the cache hold more than a few megabytes.
const MAX_CACHED_TOKEN_LENGTH = 1024;
// Far larger than any token we sign; bounds the work a hostile header can cause.
const MAX_TOKEN_LENGTH = 4096;
const E164 = /^\+[1-9]\d{6,14}$/;

type Verify = (token: string) => Record<string, unknown>;

/** A checked token: its claims, or the refusal to repeat (until a time, for refusals). */
type Checked = { token: string } & ({ claims: TokenClaims; error?: undefined } | { error: AppError; until: number });

/** The cache key of a token: its signature, the part after the last dot. */
const signatureOf = (token: string): string => token.slice(token.lastIndexOf('.') + 1);

const OTHER: Record<TokenType, TokenType> = { access: 'refresh', refresh: 'access' };

function invalid(message?: string): AppError {
  return new AppError('TOKEN_INVALID', message);
}

function decodeHeader(token: string): Record<string, unknown> {
  const dot = token.indexOf('.');
  if (token.length > MAX_TOKEN_LENGTH || dot <= 0 || token.split('.').length !== 3) throw invalid();
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as unknown;
    if (header && typeof header === 'object' && !Array.isArray(header)) return header as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalid();
}

/**
 * Checks a token the way every verifier of ours must: a JWS with `alg` EdDSA and a known `kid`,
 * header `typ` of the expected token type, a valid signature, `iss`, `aud`, `exp` (with a small
 * clock tolerance) and every claim present and well typed. Throws AppError TOKEN_INVALID or
 * TOKEN_EXPIRED; UnknownKeyIdError for a kid it does not know.
 */
export class TokenVerifier {
  private verifiers = new Map<string, Verify>();
  private readonly checked: Record<TokenType, LRUCache<string, Checked>> = {
    access: new LRUCache({ max: VERIFIED_CACHE_SIZE }),
    refresh: new LRUCache({ max: VERIFIED_CACHE_SIZE }),
  };

  constructor(
    private readonly settings: VerifierSettings,
    jwks?: Jwks,
  ) {
    if (jwks) this.setKeys(jwks);
  }

  /** Replaces the verification keys (the gateway does so when token-service's JWKS changes). */
  setKeys(jwks: Jwks): void {
    const next = new Map<string, Verify>();
    for (const jwk of jwks.keys) {
      const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
      next.set(
        jwk.kid,
        createVerifier({
          key,
          algorithms: [TOKEN_ALGORITHM],
          allowedIss: this.settings.issuer,
          allowedAud: this.settings.audience,
          requiredClaims: REQUIRED_CLAIMS,
          clockTolerance: this.settings.clockToleranceSeconds * 1000,
        }) as Verify,
      );
    }
    this.verifiers = next;
    this.checked.access.clear();
    this.checked.refresh.clear();
  }

  get keyIds(): string[] {
    return [...this.verifiers.keys()];
  }

  verify(token: string, expected: TokenType): TokenClaims {
    const verdict = this.verdict(token, expected);
    if (verdict instanceof AppError) throw verdict;
    return verdict;
  }

  /**
   * `verify` that answers the refusal instead of throwing it: a refused token is nearly always a
   * cached refusal, and a throw and catch through every caller cost more than the lookup.
   */
  verdict(token: string, expected: TokenType): TokenClaims | AppError {
    const cache = this.checked[expected];
    const key = signatureOf(token);
    const cached = cache.get(key);
    // Another token with the same signature (a forged header or payload) is checked in full.
    const hit = cached?.token === token ? cached : undefined;
    const now = Date.now();
    if (hit !== undefined) {
      if (hit.error === undefined) {
        if (hit.claims.exp * 1000 + this.settings.clockToleranceSeconds * 1000 > now) return hit.claims;
        return new AppError('TOKEN_EXPIRED');
      }
      if (hit.until > now) return hit.error;
    }
    const cacheable = token.length <= MAX_CACHED_TOKEN_LENGTH;
    try {
      // Shared by every request that presents this token: frozen, so none can change it for the others.
      const claims = Object.freeze(this.check(token, expected));
      if (cacheable) cache.set(key, { token, claims });
      return claims;
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      // An unknown kid may become known with the next keys: never remembered.
      if (cacheable && !(err instanceof UnknownKeyIdError)) cache.set(key, { token, error: err, until: now + REFUSED_CACHE_TTL_MS });
      return err;
    }
  }

  private check(token: string, expected: TokenType): TokenClaims {
    const header = decodeHeader(token);
    if (header.alg !== TOKEN_ALGORITHM) throw invalid();
    if (header.typ === TOKEN_HEADER_TYPES[OTHER[expected]]) {
      throw invalid(
        expected === 'access'
          ? 'A refresh token was sent where an access token is expected: send the access token (tokens.access_token)'
          : 'An access token was sent where a refresh token is expected: send the refresh token (tokens.refresh_token)',
      );
    }
    if (header.typ !== TOKEN_HEADER_TYPES[expected]) throw invalid();
    if (typeof header.kid !== 'string') throw invalid();
    const verify = this.verifiers.get(header.kid);
    if (!verify) throw new UnknownKeyIdError(header.kid);

    let claims: Record<string, unknown>;
    try {
      claims = verify(token);
    } catch (err) {
      if (err instanceof TokenError && err.code === TokenError.codes.expired) throw new AppError('TOKEN_EXPIRED');
      throw invalid();
    }
    if (
      claims.typ !== expected ||
      typeof claims.sub !== 'string' ||
      !E164.test(claims.sub) ||
      typeof claims.jti !== 'string' ||
      claims.jti.length === 0 ||
      typeof claims.sid !== 'string' ||
      claims.sid.length === 0 ||
      typeof claims.iat !== 'number' ||
      typeof claims.exp !== 'number'
    ) {
      throw invalid();
    }
    return claims as unknown as TokenClaims;
  }
}
