import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '@repo/contracts';
import { flushHeldWrites } from '../../http/coalesce-writes.ts';

// Fastify's own 4xx errors, given stable codes of ours. Their messages can quote the input (a
// URL, a content type), so only validation messages, which quote the schema, are passed on.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MALFORMED_REQUEST',
  FST_ERR_BAD_URL: 'MALFORMED_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'BAD_REQUEST',
};

function toAppError(err: FastifyError): AppError {
  if (err instanceof AppError) return err;
  if (err.validation) return new AppError('VALIDATION_ERROR', err.message);
  const known = err.code ? FASTIFY_CODES[err.code] : undefined;
  if (known) return new AppError(known);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new AppError('BAD_REQUEST');
  return new AppError('INTERNAL');
}

/** Answers an AppError in the one error shape (with Retry-After when it has one). */
export function sendError(appError: AppError, reply: FastifyReply) {
  if (appError.retryAfter !== undefined) reply.header('retry-after', String(appError.retryAfter));
  return reply.status(appError.statusCode).send(appError.toBody());
}

/** Fastify's `frameworkErrors`: a URL it cannot decode, a path parameter too long. */
export function onFrameworkError(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const appError = toAppError(err);
  request.log.info({ errorCode: appError.code, fastifyCode: err.code }, 'request refused by the router');
  reply.header('x-request-id', request.id);
  return sendError(appError, reply);
}

function protocolError(err: NodeJS.ErrnoException): AppError {
  if (err.code === 'HPE_HEADER_OVERFLOW') return new AppError('REQUEST_HEADERS_TOO_LARGE');
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new AppError('REQUEST_TIMEOUT');
  return new AppError('MALFORMED_REQUEST');
}

/**
 * Node's `clientError`: bytes that are not HTTP (bad request line, headers, chunking) or headers
 * too large. There is no request to reply to, so the answer is written on the socket, in our shape,
 * and the connection closed, as Node's default does.
 */
export function onClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const appError = protocolError(err);
  this.log.debug({ errorCode: appError.code, parserCode: err.code }, 'malformed HTTP from a client');
  const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && !response?.headersSent) {
    const body = JSON.stringify(appError.toBody());
    socket.write(
      `HTTP/1.1 ${appError.statusCode} ${appError.toBody().error}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    // Written now: the socket is destroyed next (writes are otherwise held to the turn's end).
    flushHeldWrites();
  }
  socket.destroy(err);
}

/**
 * One error shape for every answer: `{statusCode, error, code, message}`. Known errors keep their
 * status and code; anything unexpected is a generic 500 whose details stay in the log. Also the
 * 404 (which never echoes the URL: it may carry a token) and the 503 sent while shutting down
 * (the app is built with `return503OnClosing: false` so this one answers instead of Fastify's),
 * and the 400 for an HTTP/1.1 request without Host (built with `requireHostHeader: false`).
 */
export default fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const appError = toAppError(err);
      if (appError.statusCode >= 500) {
        const log = appError.code === 'INTERNAL' ? request.log.error.bind(request.log) : request.log.warn.bind(request.log);
        log({ err, errorCode: appError.code }, appError.message);
      }
      // Not returned: a returned reply is a thenable Fastify would wait on.
      sendError(appError, reply);
    });
    app.setNotFoundHandler((_request, reply) => sendError(new AppError('NOT_FOUND', 'No such route'), reply));

    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    // Callback style, and the first hook of every request: it also sets x-request-id, which every
    // answer carries (an onSend hook for it alone cost a hook run per request).
    app.addHook('onRequest', (request, reply, done) => {
      reply.header('x-request-id', request.id);
      if (closing) {
        reply.header('connection', 'close');
        sendError(new AppError('SERVICE_UNAVAILABLE', 'This instance is shutting down; retry', { retryAfter: 1 }), reply);
        return;
      }
      // HTTP/1.1 requires Host (RFC 9112 3.2); the app is built with Node's own check off.
      if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
        reply.header('connection', 'close');
        sendError(new AppError('MALFORMED_REQUEST', 'An HTTP/1.1 request needs a Host header'), reply);
        return;
      }
      done();
    });
  },
  { name: 'error-handler' },
);
