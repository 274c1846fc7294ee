import type { FastifyBaseLogger, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { METRICS_PATH } from '@repo/telemetry';
import { requestTrace } from './trace.ts';

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>;

/**
 * The request as logged: the path without its query string (which may carry a token someone put
 * there) and the route it matched. Replaces Fastify's serializer, which logs `req.url` whole.
 */
export function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    path: request.url.split('?', 1)[0],
    route: request.routeOptions.url,
    remoteAddress: request.ip,
  };
}

// Per parent logger, a child that has our `req` serializer: made once, so that each request's own
// child is pino's cheap one (bindings only), not one that copies serializers and formatters.
const withRequestSerializer = new WeakMap<FastifyBaseLogger, FastifyBaseLogger>();

/** Every line of a request carries its trace id (`trace_id`, see trace.ts) next to its request id. */
export const childLoggerFactory: ChildLoggerFactory = (logger, bindings, opts, rawReq) => {
  // Fastify makes the bindings object per request: filled in, not copied.
  bindings.trace_id = requestTrace(rawReq).traceId;
  if (opts.level !== undefined || opts.serializers !== undefined) {
    return logger.child(bindings, { ...opts, serializers: { req: serializeRequest, ...opts.serializers } });
  }
  let parent = withRequestSerializer.get(logger);
  if (parent === undefined) {
    parent = logger.child({}, { serializers: { req: serializeRequest } });
    withRequestSerializer.set(logger, parent);
  }
  return parent.child(bindings);
};

/**
 * One line per request, when it is answered (Fastify's default is two: incoming and completed);
 * an onResponse hook, with Fastify's own request logging turned off. The line is built field by
 * field from what is safe to log (never headers or bodies), so it skips the redaction pass that
 * every other line gets: that pass cost four times the rest of the line.
 */
export function requestLogger(log: FastifyBaseLogger): (request: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  const asIs = <T>(value: T) => value;
  const lines = log.child({}, { redact: { paths: [] }, serializers: { req: asIs, res: asIs } });
  return (request, reply, done) => {
    // Scrapes are not logged per request.
    if (request.url === METRICS_PATH) return done();
    lines.info({ reqId: request.id, trace_id: requestTrace(request.raw).traceId, req: serializeRequest(request), res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime * 100) / 100 }, 'request completed');
    done();
  };
}
