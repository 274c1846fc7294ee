import fp from 'fastify-plugin';
import fastifyJwt from '@fastify/jwt';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, TOKEN_ALGORITHM, type TokenClaims } from '@repo/contracts';
import type { SessionStore } from '@repo/stores';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims;
    user: TokenClaims;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for protected routes: a valid, unrevoked access token, or 401/503. */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  }
}

export interface AuthenticateOptions {
  secret: string;
  issuer: string;
  audience: string;
  sessions: SessionStore;
}

function toTokenError(err: { code?: string }): AppError {
  switch (err.code) {
    case 'FST_JWT_NO_AUTHORIZATION_IN_HEADER':
      return new AppError('TOKEN_MISSING');
    case 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED':
      return new AppError('TOKEN_EXPIRED');
    case 'FST_JWT_BAD_REQUEST':
      return new AppError('TOKEN_MISSING', 'Authorization header must be "Bearer <access token>"');
    default:
      return new AppError('TOKEN_INVALID');
  }
}

/**
 * Verifies access tokens in the gateway itself (pinned algorithm, issuer, audience, `typ`) and
 * checks the session's revocation in the store on every request. If the store cannot answer,
 * the request fails closed with 503.
 */
export default fp<AuthenticateOptions>(
  async (app, opts) => {
    await app.register(fastifyJwt, {
      secret: opts.secret,
      verify: {
        algorithms: [TOKEN_ALGORITHM],
        allowedIss: opts.issuer,
        allowedAud: opts.audience,
        requiredClaims: ['sub', 'typ', 'jti', 'sid', 'iat', 'exp'],
      },
    });

    app.decorate('authenticate', async (request: FastifyRequest) => {
      let claims: TokenClaims;
      try {
        claims = await request.jwtVerify<TokenClaims>();
      } catch (err) {
        throw toTokenError(err as { code?: string });
      }
      if (claims.typ !== 'access') throw new AppError('TOKEN_INVALID', 'An access token is required');
      if (await opts.sessions.isSessionRevoked(claims.sid)) throw new AppError('TOKEN_REVOKED');
    });
  },
  { name: 'authenticate', dependencies: ['error-handler'] },
);
