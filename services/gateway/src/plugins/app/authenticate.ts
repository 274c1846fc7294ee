import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type TokenClaims } from '@repo/contracts';
import type { Bus } from '@repo/bus';
import type { SessionReader } from '@repo/stores';
import type { VerifierSettings } from '@repo/tokens';
import { sendError } from './error-handler.ts';
import { TokenKeys } from './token-keys.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook of protected routes: a valid access token of a live session, or 401/503. */
    authenticate(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void;
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
    const sessions = opts.sessions;
    // A refusal decided in memory is answered here, in the error handler's shape, without the
    // detour through Fastify's error handling: a bad or revoked token costs what a good one does.
    // Returns nothing: a hook returning the reply (a thenable) would be waited on.
    const refuse = (reply: FastifyReply, refusal: AppError) => {
      sendError(refusal, reply);
    };
    const admit = (request: FastifyRequest, reply: FastifyReply, claims: TokenClaims, done: (err?: Error) => void) => {
      // Nearly always known in memory (the session mirror): no promise, no tick.
      const known = sessions.knownSessionState?.(claims.sid, claims.sub);
      if (known !== undefined) {
        if (!known) return refuse(reply, new AppError('TOKEN_REVOKED'));
        request.user = claims;
        return done();
      }
      sessions.isSessionActive(claims.sid, claims.sub).then((active) => {
        if (!active) return done(new AppError('TOKEN_REVOKED'));
        request.user = claims;
        return done();
      }, done);
    };
    // Callback style: a request whose token and session are known in memory is decided in one go.
    app.decorate('authenticate', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      let verdict: ReturnType<TokenKeys['verdictNow']>;
      try {
        const token = bearerToken(request.headers.authorization);
        if (!token) return refuse(reply, new AppError('TOKEN_MISSING'));
        verdict = keys.verdictNow(token, 'access');
      } catch (err) {
        return done(err as Error);
      }
      if (verdict instanceof AppError) return refuse(reply, verdict);
      if (verdict instanceof Promise) {
        verdict.then((settled) => (settled instanceof AppError ? done(settled) : admit(request, reply, settled, done)), done);
        return;
      }
      admit(request, reply, verdict, done);
    });
  },
  { name: 'authenticate', dependencies: ['error-handler'] },
);
