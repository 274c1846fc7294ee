import { Type, type Static } from '@sinclair/typebox';

/**
 * The only signing algorithm accepted anywhere (Ed25519). Verifiers pin it, so `none`, HS/RS
 * confusion and algorithm downgrades are impossible.
 */
export const TOKEN_ALGORITHM = 'EdDSA';

export type TokenType = 'access' | 'refresh';

/**
 * The JOSE header `typ` of each token type: RFC 9068's `at+jwt` for access tokens, another one
 * for refresh tokens, so no verifier can take one for the other.
 */
export const TOKEN_HEADER_TYPES: Record<TokenType, string> = { access: 'at+jwt', refresh: 'rt+jwt' };

/** Claims of every token the token-service issues; all are required. */
export interface TokenClaims {
  /** The E.164 phone number. */
  sub: string;
  typ: TokenType;
  jti: string;
  /** Session id: shared by the access and refresh tokens of one login, and by its rotations. */
  sid: string;
  iat: number;
  exp: number;
  iss: string;
  aud: string;
}

// Shapes only, for the API document: these are not valid tokens.
export const ACCESS_TOKEN_EXAMPLE = 'eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsxIn0.eyJzdWIiOiIrMTQxNTU1NTI2NzEifQ.c2lnbmF0dXJl';
export const REFRESH_TOKEN_EXAMPLE = 'eyJhbGciOiJFZERTQSIsInR5cCI6InJ0K2p3dCIsImtpZCI6ImsxIn0.eyJzdWIiOiIrMTQxNTU1NTI2NzEifQ.c2lnbmF0dXJl';

export const TokenPair = Type.Object(
  {
    access_token: Type.String({ description: 'a compact JWT (header typ at+jwt)', examples: [ACCESS_TOKEN_EXAMPLE] }),
    refresh_token: Type.String({ description: 'a compact JWT (header typ rt+jwt)', examples: [REFRESH_TOKEN_EXAMPLE] }),
    token_type: Type.Literal('Bearer'),
  },
  { $id: 'TokenPair' },
);
export type TokenPair = Static<typeof TokenPair>;

/** A public Ed25519 verification key as a JWK (RFC 8037). */
export const PublicJwk = Type.Object({
  kty: Type.Literal('OKP'),
  crv: Type.Literal('Ed25519'),
  x: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', examples: ['11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo'] }),
  kid: Type.String({ minLength: 1, maxLength: 128, examples: ['2026-01-05-k1'] }),
  alg: Type.Literal(TOKEN_ALGORITHM),
  use: Type.Literal('sig'),
});
export type PublicJwk = Static<typeof PublicJwk>;

/** The keys that verify our tokens (RFC 7517 JWK Set), served at GET /.well-known/jwks.json. */
export const Jwks = Type.Object({ keys: Type.Array(PublicJwk, { maxItems: 32 }) }, { $id: 'Jwks' });
export type Jwks = Static<typeof Jwks>;
