// Signs token pairs; only token-service holds a TokenSigner (and so a private key).
import { randomUUID } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { TOKEN_ALGORITHM, TOKEN_HEADER_TYPES, type TokenPair, type TokenType } from '@repo/contracts';
import type { TokenKeySet } from './keys.ts';

export interface SignerSettings {
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

type Sign = (payload: Record<string, unknown>) => string;

export class TokenSigner {
  private readonly signers: Record<TokenType, Sign>;

  constructor(keys: TokenKeySet, settings: SignerSettings) {
    const signer = (type: TokenType, ttlSeconds: number) =>
      createSigner({
        key: keys.signing.privatePem,
        algorithm: TOKEN_ALGORITHM,
        kid: keys.signing.kid,
        header: { alg: TOKEN_ALGORITHM, typ: TOKEN_HEADER_TYPES[type], kid: keys.signing.kid },
        iss: settings.issuer,
        aud: settings.audience,
        expiresIn: ttlSeconds * 1000,
      }) as Sign;
    this.signers = { access: signer('access', settings.accessTtlSeconds), refresh: signer('refresh', settings.refreshTtlSeconds) };
  }

  /** An access token and a refresh token (with id `refreshJti`) of session `sid`. */
  signPair(sub: string, sid: string, refreshJti: string): TokenPair {
    return {
      access_token: this.signers.access({ sub, sid, typ: 'access', jti: randomUUID() }),
      refresh_token: this.signers.refresh({ sub, sid, typ: 'refresh', jti: refreshJti }),
      token_type: 'Bearer',
    };
  }
}
