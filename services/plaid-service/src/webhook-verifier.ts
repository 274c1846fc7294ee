import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { AppError } from '@repo/contracts';

/** Plaid's `/webhook_verification_key/get` key: a P-256 JWK plus its validity. */
export interface WebhookKey extends JWK {
  kid?: string;
  expired_at?: number | null;
}

export type FetchWebhookKey = (kid: string) => Promise<WebhookKey>;

const MAX_AGE_SECONDS = 5 * 60;
const MAX_CACHED_KEYS = 100;

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

function fail(why: string): AppError {
  return new AppError('WEBHOOK_VERIFICATION_FAILED', `The webhook signature could not be verified: ${why}`);
}

/**
 * Verifies the `Plaid-Verification` header of a webhook as Plaid documents it: an ES256 JWT
 * signed by a key fetched by its `kid` (cached), issued at most 5 minutes ago, whose
 * `request_body_sha256` is the SHA-256 of the raw body.
 * https://plaid.com/docs/api/webhooks/webhook-verification/
 */
export class WebhookVerifier {
  private readonly keys = new Map<string, { key: VerifyKey; expiredAt: number | null }>();

  constructor(
    private readonly fetchKey: FetchWebhookKey,
    private readonly now: () => number = Date.now,
  ) {}

  async verify(rawBody: string, header: string | undefined): Promise<void> {
    if (!header) throw fail('no Plaid-Verification header');
    let alg: string | undefined;
    let kid: string | undefined;
    try {
      ({ alg, kid } = decodeProtectedHeader(header));
    } catch {
      throw fail('the Plaid-Verification header is not a JWT');
    }
    if (alg !== 'ES256') throw fail(`algorithm ${String(alg)} is not ES256`);
    if (!kid) throw fail('no key id');
    const key = await this.keyFor(kid);

    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(header, key, { algorithms: ['ES256'], maxTokenAge: MAX_AGE_SECONDS, currentDate: new Date(this.now()) }));
    } catch (err) {
      throw fail((err as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'it is older than 5 minutes' : 'bad signature or claims');
    }
    const claimed = typeof payload.request_body_sha256 === 'string' ? Buffer.from(payload.request_body_sha256, 'utf8') : Buffer.alloc(0);
    const actual = Buffer.from(createHash('sha256').update(rawBody, 'utf8').digest('hex'), 'utf8');
    if (claimed.length !== actual.length || !timingSafeEqual(claimed, actual)) throw fail('the body does not match its signature');
  }

  private async keyFor(kid: string): Promise<VerifyKey> {
    let cached = this.keys.get(kid);
    if (!cached) {
      let jwk: WebhookKey;
      try {
        jwk = await this.fetchKey(kid);
      } catch (err) {
        // An unknown kid is a forged header; Plaid being down is ours to report as such.
        if (err instanceof AppError && (err.code === 'PLAID_UNAVAILABLE' || err.code === 'PLAID_RATE_LIMITED')) throw err;
        throw fail('unknown key id');
      }
      let key: VerifyKey;
      try {
        key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'ES256');
      } catch {
        throw fail('Plaid returned a key that is not a P-256 key');
      }
      cached = { key, expiredAt: jwk.expired_at ?? null };
      if (this.keys.size >= MAX_CACHED_KEYS) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(kid, cached);
    }
    // Plaid rotates keys: an expired one no longer vouches for anything.
    if (cached.expiredAt !== null && cached.expiredAt * 1000 <= this.now()) throw fail('the key has expired');
    return cached.key;
  }
}
