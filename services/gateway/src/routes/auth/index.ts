import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  AppError,
  AuthSubjects,
  LogoutAllReply,
  LogoutReply,
  ProtectedReply,
  RefreshBody,
  RefreshReply,
  SendVerificationBody,
  SendVerificationReply,
  TokenSubjects,
  VerifyCodeBody,
  VerifyCodeReply,
  VerifyCodeWrongCodeReply,
  logoutAllMessage,
  normalizePhoneNumber,
  type ErrorCode,
} from '@repo/contracts';
import { DEFAULT_ATTEMPT_TIMEOUT_MS } from '@repo/bus';
import { SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR } from '../../config.ts';
import { ACCESS, BODY, LIMITED, errorResponses } from '../../http/api-doc.ts';
import { bearerToken } from '../../plugins/app/authenticate.ts';
import { busOptions } from '../../http/trace.ts';

const bearer = [{ bearerAuth: [] }];
const sessionErrors = errorResponses(LIMITED, ACCESS);
// What auth-service can answer for a send (Twilio's refusals mapped to our codes) and a check.
const PROVIDER: ErrorCode[] = ['VERIFICATION_PROVIDER_ERROR', 'VERIFICATION_PROVIDER_UNAVAILABLE', 'STORE_UNAVAILABLE'];
const SEND: ErrorCode[] = [
  'INVALID_PHONE_NUMBER',
  'INVALID_VERIFICATION_REQUEST',
  'PHONE_COUNTRY_NOT_ALLOWED',
  'PHONE_NUMBER_CANNOT_RECEIVE_SMS',
  'PHONE_NUMBER_BLOCKED',
  'VERIFICATION_SEND_LIMIT',
  'VERIFICATION_SEND_TOO_SOON',
  'VERIFICATION_BUDGET_EXHAUSTED',
  'VERIFICATION_CONCURRENT_REQUESTS',
  'VERIFICATION_LOCKED',
  ...PROVIDER,
];
const CHECK: ErrorCode[] = [
  'INVALID_PHONE_NUMBER',
  'VERIFICATION_NOT_FOUND',
  'VERIFICATION_EXPIRED',
  'VERIFICATION_MAX_ATTEMPTS',
  'VERIFICATION_LOCKED',
  'VERIFICATION_ALREADY_USED',
  ...PROVIDER,
];
const REFRESH: ErrorCode[] = ['TOKEN_MISSING', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_REVOKED', 'REFRESH_TOKEN_REUSED', 'STORE_UNAVAILABLE'];

/** One counter per phone, however it was typed: its E.164 form (the handler rejects invalid ones). */
function phoneKey(input: unknown): string {
  const text = typeof input === 'string' ? input : '';
  try {
    return normalizePhoneNumber(text);
  } catch {
    return text.replace(/\D/g, '');
  }
}

const opts = busOptions;

// Kept back from the reuse interval for what lies between a retry's deadline and its rotation in
// Redis (the handler's own time, clocks a little apart).
const REFRESH_RETRY_MARGIN_MS = 1_000;

/**
 * How a refresh is sent. It is idempotent only while token-service still gives the previous
 * refresh token the same pair back (REFRESH_TOKEN_REUSE_INTERVAL_SECONDS from its rotation): a
 * retry after that counts as reuse and logs the user out. So a retry must be handled within the
 * interval of the first attempt; the bus sends the refresh once when the interval leaves no room
 * for a retry after a first attempt (0 disables it).
 */
function refreshRequestOptions(reuseIntervalSeconds: number): { idempotent?: true; retryWithinMs?: number } {
  const retryWithinMs = reuseIntervalSeconds * 1_000 - REFRESH_RETRY_MARGIN_MS;
  return retryWithinMs > 0 ? { idempotent: true, retryWithinMs } : {};
}

/** The routes of a logged-in session: each needs an access token (one onRequest hook for all). */
const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);

  app.get(
    '/protected',
    {
      schema: { tags: ['auth'], operationId: 'getProtected', summary: 'An example protected route', security: bearer, response: { 200: ProtectedReply, ...sessionErrors } },
    },
    // Not async: Fastify sends a plain return value at once, with no promise to settle first.
    (request) => ({ message: 'This is a protected route' as const, phone_number: request.user.sub }),
  );

  app.delete(
    '/logout',
    {
      schema: { tags: ['auth'], operationId: 'logout', summary: 'Revoke this session (its access and refresh tokens)', security: bearer, response: { 200: LogoutReply, ...sessionErrors } },
    },
    async (request) => {
      await app.bus.request(TokenSubjects.revokeSession, { sub: request.user.sub, sid: request.user.sid }, opts(request));
      // Refused here from now on, not only once the store's announcement comes back.
      app.sessions.sessionEnded?.(request.user.sid);
      return { message: 'Successfully logged out' as const };
    },
  );

  app.delete(
    '/logout-all',
    {
      schema: { tags: ['auth'], operationId: 'logoutAll', summary: 'Revoke every session of this phone number', security: bearer, response: { 200: LogoutAllReply, ...sessionErrors } },
    },
    async (request) => {
      await app.bus.request(TokenSubjects.revokeSubject, { sub: request.user.sub }, opts(request));
      app.sessions.subjectRevoked?.(request.user.sub);
      return { message: logoutAllMessage(request.user.sub) };
    },
  );
};

/** The phone-login API. Shapes are a public contract: README.md, "HTTP API" (examples, error codes) and /openapi.json. */
const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const reuseSeconds = app.gatewaySettings.REFRESH_TOKEN_REUSE_INTERVAL_SECONDS;
  const refreshOptions = refreshRequestOptions(reuseSeconds);
  // (The bus's first attempt is its default: the gateway's bus is made with no other.)
  if ((refreshOptions.retryWithinMs ?? 0) <= DEFAULT_ATTEMPT_TIMEOUT_MS) {
    app.log.warn({ REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: reuseSeconds }, 'refresh is sent to token-service once, never retried: the reuse interval leaves no time for a retry');
  }

  app.post(
    '/send-verification',
    {
      // On top of the per-IP limit of every route: per client IP and per phone number, so nobody
      // can send codes to many numbers, or flood one, and run up the SMS bill. auth-service adds
      // the interval, budget and country limits.
      // Per IP first: codes a client's IP may not ask for do not spend the number's budget.
      preHandler: app.limitBy(
        {
          max: app.gatewaySettings.SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR ?? SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR,
          timeWindowMs: 3_600_000,
          key: (request) => `send-ip:${normalizeIP(request.ip)}`,
        },
        {
          max: app.gatewaySettings.SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR,
          timeWindowMs: 3_600_000,
          key: (request) => `send:${phoneKey((request.body as { phone_number?: unknown }).phone_number)}`,
        },
      ),
      schema: {
        tags: ['auth'],
        operationId: 'sendVerificationCode',
        summary: 'Send a verification code by SMS (or call/whatsapp)',
        security: [],
        body: SendVerificationBody,
        response: { 200: SendVerificationReply, ...errorResponses(LIMITED, BODY, SEND) },
      },
    },
    async (request) => {
      const phone = normalizePhoneNumber(request.body.phone_number);
      await app.bus.request(AuthSubjects.sendVerification, { phone_number: phone, channel: request.body.channel ?? 'sms' }, opts(request));
      return { message: 'Verification code sent successfully' as const, status: 'pending' as const };
    },
  );

  app.post(
    '/verify-code',
    {
      schema: {
        tags: ['auth'],
        operationId: 'verifyCode',
        summary: 'Check the code; on success, get an access and a refresh token',
        description: 'A wrong code answers 401 with `code` INVALID_VERIFICATION_CODE and `authenticated: false`.',
        security: [],
        body: VerifyCodeBody,
        response: { 200: VerifyCodeReply, ...errorResponses(LIMITED, BODY, CHECK), 401: VerifyCodeWrongCodeReply },
      },
    },
    async (request, reply) => {
      const phone = normalizePhoneNumber(request.body.phone_number);
      try {
        const result = await app.bus.request(AuthSubjects.checkVerification, { phone_number: phone, code: request.body.code }, opts(request));
        return {
          message: 'Verification successful' as const,
          authenticated: true as const,
          tokens: result.tokens,
          phone_number: result.phone_number,
        };
      } catch (err) {
        if (err instanceof AppError && err.code === 'INVALID_VERIFICATION_CODE') {
          return reply.status(401).send({ message: 'Invalid verification code', authenticated: false, status: 'pending', code: 'INVALID_VERIFICATION_CODE' });
        }
        throw err;
      }
    },
  );

  app.post(
    '/refresh',
    {
      // The refresh token usually comes in the header, so an empty body is fine.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ['auth'],
        operationId: 'refreshToken',
        summary: 'Trade a refresh token (Authorization: Bearer, or body) for a new access token and a rotated refresh token',
        description: 'Send the refresh token, not the access token (that answers 401 TOKEN_INVALID saying so). The body is optional.',
        security: [{ refreshToken: [] }, {}],
        'x-body-optional': true,
        body: RefreshBody,
        response: { 200: RefreshReply, ...errorResponses(LIMITED, BODY, REFRESH) },
      },
    },
    async (request) => {
      const token = bearerToken(request.headers.authorization) ?? request.body.refresh_token;
      if (!token) throw new AppError('TOKEN_MISSING', 'Send the refresh token as "Authorization: Bearer <refresh token>"');
      // Idempotent within the reuse interval only: the same refresh token again then gets the same pair.
      const pair = await app.bus.request(TokenSubjects.refreshPair, { refresh_token: token }, { ...opts(request), ...refreshOptions });
      return { access_token: pair.access_token, token_type: 'Bearer' as const, refresh_token: pair.refresh_token };
    },
  );

  await app.register(sessionRoutes);
};

export default authRoutes;
