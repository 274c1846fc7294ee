import { randomUUID } from 'node:crypto';
import { AppError, type Jwks, type TokenClaims, type TokenPair, type TokenType } from '@repo/contracts';
import type { JwtSettings } from '@repo/runtime';
import type { SessionStore } from '@repo/stores';
import { publicJwks, TokenSigner, TokenVerifier } from '@repo/tokens';
import { keySetFrom } from './config.ts';

/**
 * Issues, rotates and revokes token pairs. A pair belongs to a session (`sid`); the session
 * store holds the id of the one refresh token that may be used next, and the pair it was last
 * rotated into, so a retried refresh gets the same answer instead of killing the session.
 */
export class TokenIssuer {
  private readonly signer: TokenSigner;
  private readonly verifier: TokenVerifier;
  private readonly jwks: Jwks;
  /** A session lives as long as its longest-lived token. */
  private readonly sessionTtl: number;

  constructor(
    private readonly settings: JwtSettings,
    private readonly sessions: SessionStore,
  ) {
    const keys = keySetFrom(settings);
    this.signer = new TokenSigner(keys, {
      issuer: settings.JWT_ISSUER,
      audience: settings.JWT_AUDIENCE,
      accessTtlSeconds: settings.ACCESS_TOKEN_TTL_SECONDS,
      refreshTtlSeconds: settings.REFRESH_TOKEN_TTL_SECONDS,
    });
    this.jwks = publicJwks(keys);
    this.verifier = new TokenVerifier(
      { issuer: settings.JWT_ISSUER, audience: settings.JWT_AUDIENCE, clockToleranceSeconds: settings.JWT_CLOCK_TOLERANCE_SECONDS },
      this.jwks,
    );
    this.sessionTtl = Math.max(settings.ACCESS_TOKEN_TTL_SECONDS, settings.REFRESH_TOKEN_TTL_SECONDS);
  }

  /** The public keys that verify our tokens (the gateway serves them as its JWKS). */
  publicKeys(): Jwks {
    return this.jwks;
  }

  async issuePair(phoneNumber: string): Promise<TokenPair> {
    const sid = randomUUID();
    const refreshJti = randomUUID();
    await this.sessions.createSession({ sid, sub: phoneNumber, refreshJti }, this.sessionTtl);
    return this.signer.signPair(phoneNumber, sid, refreshJti);
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const claims = this.verifyToken(refreshToken, 'refresh');
    const next = randomUUID();
    // Signed before the swap, so the store can keep it for a retry of this same token.
    const pair = this.signer.signPair(claims.sub, claims.sid, next);
    const result = await this.sessions.rotateRefresh(
      { sid: claims.sid, sub: claims.sub, refreshJti: claims.jti },
      { jti: next, pair },
      this.sessionTtl,
      this.settings.REFRESH_TOKEN_REUSE_INTERVAL_SECONDS,
    );
    switch (result.outcome) {
      case 'rotated':
        return pair;
      case 'replayed':
        return result.pair;
      case 'reused':
        throw new AppError('REFRESH_TOKEN_REUSED');
      case 'missing':
        throw new AppError('TOKEN_REVOKED');
    }
  }

  revokeSession(sub: string, sid: string): Promise<void> {
    return this.sessions.revokeSession(sid, sub);
  }

  revokeSubject(sub: string): Promise<number> {
    // The revoked-before mark must outlive every token issued until now, clock tolerance included.
    return this.sessions.revokeSubject(sub, this.sessionTtl + this.settings.JWT_CLOCK_TOLERANCE_SECONDS);
  }

  verifyToken(token: string, expected: TokenType): TokenClaims {
    return this.verifier.verify(token, expected);
  }
}
