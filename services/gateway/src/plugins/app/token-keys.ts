import { AppError, TokenSubjects, type Jwks, type TokenClaims, type TokenType } from '@repo/contracts';
import type { Bus, BusLogger } from '@repo/bus';
import { TokenVerifier, UnknownKeyIdError, type VerifierSettings } from '@repo/tokens';

// Keys change only on rotation: refetch in the background after this long...
const REFRESH_AFTER_MS = 5 * 60_000;
// ...or at once for a token with an unknown kid, but not more often than this (forged kids are free).
const UNKNOWN_KID_REFRESH_EVERY_MS = 10_000;

/**
 * The public keys of token-service, fetched over the bus and cached, and the verifier built
 * from them. The gateway holds no private key: it can check tokens, never mint one.
 */
export class TokenKeys {
  private readonly verifier: TokenVerifier;
  private jwks: Jwks | undefined;
  private fetchedAt = 0;
  private lastUnknownKidRefresh = 0;
  private inflight: Promise<Jwks> | undefined;

  constructor(
    private readonly bus: Bus,
    settings: VerifierSettings,
    private readonly log: Pick<BusLogger, 'warn'>,
    private readonly now: () => number = Date.now,
  ) {
    this.verifier = new TokenVerifier(settings);
  }

  /** The JWKS to publish; 503 only if it was never fetched and token-service cannot answer. */
  async current(): Promise<Jwks> {
    if (!this.jwks) return this.refresh();
    this.refreshInBackgroundIfOld();
    return this.jwks;
  }

  async verify(token: string, expected: TokenType): Promise<TokenClaims> {
    const verdict = await this.verdictNow(token, expected);
    if (verdict instanceof AppError) throw verdict;
    return verdict;
  }

  /**
   * The claims, or the refusal (answered, not thrown), without a promise when the keys at hand
   * decide, which is nearly always (the hot path of every protected request). A promise only for
   * a kid not known yet.
   */
  verdictNow(token: string, expected: TokenType): TokenClaims | AppError | Promise<TokenClaims | AppError> {
    this.refreshInBackgroundIfOld();
    // Malformed tokens, wrong algorithms and types are refused here without any call to token-service.
    const verdict = this.verifier.verdict(token, expected);
    return verdict instanceof UnknownKeyIdError ? this.verdictWithNewKeys(token, expected, verdict) : verdict;
  }

  private async verdictWithNewKeys(token: string, expected: TokenType, err: UnknownKeyIdError): Promise<TokenClaims | AppError> {
    if (!this.jwks) {
      // Never loaded: 503 if token-service cannot answer, rather than refusing a valid token.
      await this.refresh();
    } else {
      // Maybe a key added by a rotation since the last fetch; forged kids are free, so not often.
      if (this.now() - this.lastUnknownKidRefresh < UNKNOWN_KID_REFRESH_EVERY_MS) return err;
      this.lastUnknownKidRefresh = this.now();
      await this.refresh().catch(() => undefined);
    }
    return this.verifier.verdict(token, expected);
  }

  private refreshInBackgroundIfOld(): void {
    if (!this.jwks || this.now() - this.fetchedAt < REFRESH_AFTER_MS || this.inflight) return;
    this.refresh().catch((err: unknown) => this.log.warn({ err }, 'could not refresh the token verification keys; using the cached ones'));
  }

  private refresh(): Promise<Jwks> {
    // A read: sent again after a short first attempt, so a token-service replica that died with
    // it costs one attempt, not the whole budget of every request waiting on the keys.
    this.inflight ??= this.bus
      .request(TokenSubjects.publicKeys, {}, { idempotent: true })
      .then((jwks) => {
        this.verifier.setKeys(jwks);
        this.jwks = jwks;
        this.fetchedAt = this.now();
        return jwks;
      })
      .catch((err: unknown) => {
        if (err instanceof AppError) throw err;
        throw new AppError('SERVICE_UNAVAILABLE', 'The token verification keys cannot be loaded', { cause: err, retryAfter: 1 });
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }
}
