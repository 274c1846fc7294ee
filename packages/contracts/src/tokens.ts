import { Type, type Static } from '@sinclair/typebox';

/** The only signing algorithm accepted anywhere; verifiers pin it so `none` or RS/HS confusion is impossible. */
export const TOKEN_ALGORITHM = 'HS256';

export type TokenType = 'access' | 'refresh';

/** Claims of every token the token-service issues. */
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

export const TokenPair = Type.Object(
  {
    access_token: Type.String(),
    refresh_token: Type.String(),
    token_type: Type.Literal('Bearer'),
  },
  { $id: 'TokenPair' },
);
export type TokenPair = Static<typeof TokenPair>;
