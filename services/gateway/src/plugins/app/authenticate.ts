import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type TokenClaims } from '@repo/contracts';
import type { Bus } from '@repo/bus';
import type { SessionReader } from '@repo/stores';
import type { VerifierSettings } from '@repo/tokens';
import { TokenKeys } from './token-keys.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook of protected routes: a valid access token of a live session, or 401/503. */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>;
    tokenKeys: TokenKeys;
  }
  interface FastifyRequest {
    /** The verified claims of the access token (protected routes only). */
    user: TokenClaims;
  }
}

export interface AuthenticateOptions extends VerifierSettings {
  bus: Bus;
  sessions: SessionReader;
}

/** The token of `Authorization: Bearer <token>`; undefined without the header, 401 if malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  if (!match) throw new AppError('TOKEN_MISSING', 'Authorization header must be "Bearer <token>"');
  return match[1];
}

/**
 * Verifies access tokens in the gateway itself, with token-service's public keys (pinned
 * algorithm, kid, header typ, issuer, audience, every claim), then asks the session store whether
 * the session is still live on every request. If the store cannot answer, the request fails
 * closed with 503; if it lost its data, the session is unknown and the token is refused.
 */
export default fp<AuthenticateOptions>(
  async (app, opts) => {
    const keys = new TokenKeys(opts.bus, { issuer: opts.issuer, audience: opts.audience, clockToleranceSeconds: opts.clockToleranceSeconds }, app.log);
    app.decorate('tokenKeys', keys);
    app.decorateRequest('user', null as unknown as TokenClaims);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization);
      if (!token) throw new AppError('TOKEN_MISSING');
      const claims = await keys.verify(token, 'access');
      if (!(await opts.sessions.isSessionActive(claims.sid, claims.sub))) throw new AppError('TOKEN_REVOKED');
      request.user = claims;
    });
  },
  { name: 'authenticate', dependencies: ['error-handler'] },
);
