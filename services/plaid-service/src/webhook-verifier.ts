import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { AppError } from '@repo/contracts';
import { ExpiringMap, type WebhookReplayStore } from '@repo/stores';

/** Plaid's `/webhook_verification_key/get` key: a P-256 JWK plus its validity. */
export interface WebhookKey extends JWK {
  kid?: string;
  expired_at?: number | null;
}

export type FetchWebhookKey = (kid: string) => Promise<WebhookKey>;

export interface WebhookVerifierOptions {
  /** Where verified tokens are recorded, so a replay is ignored (shared by every replica). */
  replays: WebhookReplayStore;
  now?: () => number;
  /** How long a key Plaid calls current is trusted before asking again whether it has expired. */
  keyRecheckSeconds?: number;
  /** How long a kid Plaid does not know (or an expired key) is refused without asking Plaid. */
  unknownKidSeconds?: number;
  /** Key fetches per minute at most, so forged kids cannot make us flood Plaid. */
  keyFetchesPerMinute?: number;
}

/** What a verified webhook is: a first delivery, or one already seen within its 5 minutes. */
export type WebhookVerdict = { replayed: false; release(): Promise<void> } | { replayed: true };

const MAX_AGE_SECONDS = 5 * 60;
const MAX_KID_LENGTH = 128;

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

function fail(why: string): AppError {
  return new AppError('WEBHOOK_VERIFICATION_FAILED', `The webhook signature could not be verified: ${why}`);
}

/**
 * Verifies the `Plaid-Verification` header of a webhook as Plaid documents it: an ES256 JWT
 * signed by a key fetched by its `kid`, issued at most 5 minutes ago, whose `request_body_sha256`
 * is the SHA-256 of the raw body; then records the token so the same delivery is acted on once.
 * https://plaid.com/docs/api/webhooks/webhook-verification/
 *
 * Keys are cached until their `expired_at` (a current key is re-checked after a while, as Plaid
 * may expire it since); kids Plaid does not know are remembered as such, and fetches are rate
 * limited, so each forged header costs nothing beyond this process.
 */
export class WebhookVerifier {
  private readonly keys: ExpiringMap<VerifyKey>;
  private readonly refused: ExpiringMap<string>;
  private readonly now: () => number;
  private readonly keyRecheckSeconds: number;
  private readonly unknownKidSeconds: number;
  private readonly keyFetchesPerMinute: number;
  private fetchWindow = { startedAt: 0, count: 0 };

  constructor(
    private readonly fetchKey: FetchWebhookKey,
    private readonly options: WebhookVerifierOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.keys = new ExpiringMap(this.now);
    this.refused = new ExpiringMap(this.now);
    this.keyRecheckSeconds = options.keyRecheckSeconds ?? 3600;
    this.unknownKidSeconds = options.unknownKidSeconds ?? 600;
    this.keyFetchesPerMinute = options.keyFetchesPerMinute ?? 10;
  }

  async verify(rawBody: string, header: string | undefined): Promise<WebhookVerdict> {
    if (!header) throw fail('no Plaid-Verification header');
    let alg: string | undefined;
    let kid: string | undefined;
    try {
      ({ alg, kid } = decodeProtectedHeader(header));
    } catch {
      throw fail('the Plaid-Verification header is not a JWT');
    }
    if (alg !== 'ES256') throw fail(`algorithm ${String(alg)} is not ES256`);
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) throw fail('no key id');
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

    // The token is refused after 5 minutes anyway, so remembering it that long is enough.
    const digest = createHash('sha256').update(header, 'utf8').digest('base64url');
    if (!(await this.options.replays.claim(digest, MAX_AGE_SECONDS))) return { replayed: true };
    return { replayed: false, release: () => this.options.replays.release(digest) };
  }

  private async keyFor(kid: string): Promise<VerifyKey> {
    const cached = this.keys.get(kid);
    if (cached) return cached;
    const refusal = this.refused.get(kid);
    if (refusal) throw fail(refusal);
    this.countFetch();

    let jwk: WebhookKey;
    try {
      jwk = await this.fetchKey(kid);
    } catch (err) {
      // Plaid being down is ours to report as such; anything else means Plaid does not know the kid.
      if (err instanceof AppError && (err.code === 'PLAID_UNAVAILABLE' || err.code === 'PLAID_RATE_LIMITED')) throw err;
      throw this.refuse(kid, 'unknown key id');
    }
    const expiredAt = typeof jwk.expired_at === 'number' ? jwk.expired_at * 1000 : null;
    // Plaid rotates keys: an expired one no longer vouches for anything.
    if (expiredAt !== null && expiredAt <= this.now()) throw this.refuse(kid, 'the key has expired');
    let key: VerifyKey;
    try {
      key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'ES256');
    } catch {
      throw this.refuse(kid, 'Plaid returned a key that is not a P-256 key');
    }
    const recheckAt = this.now() + this.keyRecheckSeconds * 1000;
    const cacheMs = Math.min(expiredAt ?? recheckAt, recheckAt) - this.now();
    this.keys.set(kid, key, cacheMs / 1000);
    return key;
  }

  private refuse(kid: string, why: string): AppError {
    this.refused.set(kid, why, this.unknownKidSeconds);
    return fail(why);
  }

  private countFetch(): void {
    const now = this.now();
    if (now - this.fetchWindow.startedAt >= 60_000) this.fetchWindow = { startedAt: now, count: 0 };
    this.fetchWindow.count += 1;
    if (this.fetchWindow.count > this.keyFetchesPerMinute) throw fail('too many unknown key ids; not asking Plaid again for now');
  }
}
