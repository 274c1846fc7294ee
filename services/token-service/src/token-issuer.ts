import { randomUUID } from 'node:crypto';
import { createSigner, createVerifier, TokenError } from 'fast-jwt';
import { AppError, TOKEN_ALGORITHM, type TokenClaims, type TokenPair, type TokenType } from '@repo/contracts';
import type { JwtSettings } from '@repo/runtime';
import type { SessionStore } from '@repo/stores';

type Signer = (payload: Record<string, unknown>) => string;

/**
 * Issues, rotates and revokes token pairs. A pair belongs to a session (`sid`); the session
 * store holds the id of the one refresh token that may still be used.
 */
export class TokenIssuer {
  private readonly signAccess: Signer;
  private readonly signRefresh: Signer;
  private readonly verify: (token: string) => TokenClaims;
  /** Revocations must outlive every token of the session they kill. */
  private readonly revokeTtl: number;

  constructor(
    private readonly settings: JwtSettings,
    private readonly sessions: SessionStore,
  ) {
    const common = { key: settings.JWT_SECRET, algorithm: TOKEN_ALGORITHM, iss: settings.JWT_ISSUER, aud: settings.JWT_AUDIENCE } as const;
    this.signAccess = createSigner({ ...common, expiresIn: settings.ACCESS_TOKEN_TTL_SECONDS * 1000 });
    this.signRefresh = createSigner({ ...common, expiresIn: settings.REFRESH_TOKEN_TTL_SECONDS * 1000 });
    this.verify = createVerifier({
      key: settings.JWT_SECRET,
      algorithms: [TOKEN_ALGORITHM],
      allowedIss: settings.JWT_ISSUER,
      allowedAud: settings.JWT_AUDIENCE,
      requiredClaims: ['sub', 'typ', 'jti', 'sid', 'iat', 'exp'],
    });
    this.revokeTtl = Math.max(settings.ACCESS_TOKEN_TTL_SECONDS, settings.REFRESH_TOKEN_TTL_SECONDS);
  }

  async issuePair(phoneNumber: string): Promise<TokenPair> {
    const sid = randomUUID();
    const refreshJti = randomUUID();
    await this.sessions.createSession({ sid, sub: phoneNumber, refreshJti }, this.settings.REFRESH_TOKEN_TTL_SECONDS);
    return this.sign(phoneNumber, sid, refreshJti);
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const claims = this.verifyToken(refreshToken, 'refresh');
    const nextJti = randomUUID();
    const outcome = await this.sessions.rotateRefresh(
      { sid: claims.sid, sub: claims.sub, refreshJti: claims.jti },
      nextJti,
      this.settings.REFRESH_TOKEN_TTL_SECONDS,
      this.revokeTtl,
    );
    if (outcome === 'reused') throw new AppError('REFRESH_TOKEN_REUSED');
    if (outcome === 'missing') throw new AppError('TOKEN_REVOKED');
    return this.sign(claims.sub, claims.sid, nextJti);
  }

  revokeSession(sub: string, sid: string): Promise<void> {
    return this.sessions.revokeSession(sid, sub, this.revokeTtl);
  }

  revokeSubject(sub: string): Promise<number> {
    return this.sessions.revokeSubject(sub, this.revokeTtl);
  }

  /** Verifies signature (pinned algorithm), issuer, audience, expiry and the token type. */
  verifyToken(token: string, expected: TokenType): TokenClaims {
    let claims: TokenClaims;
    try {
      claims = this.verify(token);
    } catch (err) {
      if (err instanceof TokenError && err.code === TokenError.codes.expired) throw new AppError('TOKEN_EXPIRED');
      throw new AppError('TOKEN_INVALID');
    }
    if (claims.typ !== expected) throw new AppError('TOKEN_INVALID', `Expected a ${expected} token`);
    return claims;
  }

  private sign(sub: string, sid: string, refreshJti: string): TokenPair {
    return {
      access_token: this.signAccess({ sub, sid, typ: 'access', jti: randomUUID() }),
      refresh_token: this.signRefresh({ sub, sid, typ: 'refresh', jti: refreshJti }),
      token_type: 'Bearer',
    };
  }
}
