import fp from 'fastify-plugin';
import type { FastifyError } from 'fastify';
import { AppError, type ErrorCode } from '@repo/contracts';

// Fastify's own 4xx errors, given stable codes of ours.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

function toAppError(err: FastifyError): AppError {
  if (err instanceof AppError) return err;
  if (err.validation) return new AppError('VALIDATION_ERROR', err.message);
  const known = err.code ? FASTIFY_CODES[err.code] : undefined;
  if (known) return new AppError(known);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new AppError('BAD_REQUEST', err.message);
  return new AppError('INTERNAL');
}

/**
 * One error shape for every route: `{statusCode, error, code, message}`. Known errors keep their
 * status and code; anything unexpected is a generic 500 whose details stay in the log.
 */
export default fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const appError = toAppError(err);
      if (appError.statusCode >= 500) {
        const log = appError.code === 'INTERNAL' ? request.log.error.bind(request.log) : request.log.warn.bind(request.log);
        log({ err, errorCode: appError.code }, appError.message);
      }
      if (appError.retryAfter !== undefined) reply.header('retry-after', String(appError.retryAfter));
      return reply.status(appError.statusCode).send(appError.toBody());
    });
    app.setNotFoundHandler((request, reply) =>
      reply.status(404).send(new AppError('NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`).toBody()),
    );
  },
  { name: 'error-handler' },
);
