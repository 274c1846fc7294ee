import type { FastifyBaseLogger, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import pino from 'pino';
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

const withRequestSerializer = new WeakMap<FastifyBaseLogger, FastifyBaseLogger>();

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type AnyLogFn = (...args: unknown[]) => void;

/**
 * A request's logger, made when it first logs: most requests never do (their one line is
 * requestLogger's), and a pino child per request, with its bindings run through the redaction,
 * cost about 5% of a protected request.
 */
class LazyRequestLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
  ) {}

  private get log(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings));
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.log.level = level;
  }

  // Methods on the prototype: nothing allocated per request but the object itself.
  fatal(...args: unknown[]): void {
    (this.log.fatal as AnyLogFn)(...args);
  }
  error(...args: unknown[]): void {
    (this.log.error as AnyLogFn)(...args);
  }
  warn(...args: unknown[]): void {
    (this.log.warn as AnyLogFn)(...args);
  }
  info(...args: unknown[]): void {
    (this.log.info as AnyLogFn)(...args);
  }
  debug(...args: unknown[]): void {
    (this.log.debug as AnyLogFn)(...args);
  }
  trace(...args: unknown[]): void {
    (this.log.trace as AnyLogFn)(...args);
  }
  silent(...args: unknown[]): void {
    (this.log.silent as AnyLogFn)(...args);
  }

  child(...args: Parameters<FastifyBaseLogger['child']>): FastifyBaseLogger {
    return this.log.child(...args);
  }
}

/** Every line of a request carries its trace id (`trace_id`, see trace.ts) next to its request id. */
export const childLoggerFactory: ChildLoggerFactory = (logger, bindings, opts, rawReq) => {
  // Fastify makes the bindings object per request: filled in, not copied.
  bindings.trace_id = requestTrace(rawReq).traceId;
  if (opts.level !== undefined || opts.serializers !== undefined) {
    return logger.child(bindings, { ...opts, serializers: { req: serializeRequest, ...opts.serializers } });
  }
  // Per parent logger, a child with our `req` serializer, made once: a request's own child is then
  // pino's cheap one (bindings only), not one that copies serializers and formatters.
  let parent = withRequestSerializer.get(logger);
  if (parent === undefined) {
    parent = logger.child({}, { serializers: { req: serializeRequest } });
    withRequestSerializer.set(logger, parent);
  }
  return new LazyRequestLogger(parent, bindings) as unknown as FastifyBaseLogger;
};

/**
 * One line per request, when it is answered (Fastify's default is two: incoming and completed);
 * an onResponse hook, with Fastify's own request logging turned off. The line is built field by
 * field from what is safe to log (never headers or bodies), so it skips the redaction pass that
 * every other line gets: that pass cost four times the rest of the line. With a pino logger it
 * is written as pino would write it (see accessLine), straight to pino's stream: pino's own
 * formatting of the nested fields was half of the line's cost.
 */
export function requestLogger(log: FastifyBaseLogger): (request: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  const asIs = <T>(value: T) => value;
  const lines = log.child({}, { redact: { paths: [] }, serializers: { req: asIs, res: asIs } });
  const direct = directWriter(lines);
  const levelCheck = (lines as Partial<Pick<pino.Logger, 'isLevelEnabled'>>).isLevelEnabled?.bind(lines);
  return (request, reply, done) => {
    // Scrapes are not logged per request.
    if (request.url === METRICS_PATH || (levelCheck && !levelCheck('info'))) return done();
    const responseTime = Math.round(reply.elapsedTime * 100) / 100;
    const traceId = requestTrace(request.raw).traceId;
    if (direct) direct.write(accessLine(direct, request, reply.statusCode, responseTime, traceId));
    else lines.info({ reqId: request.id, trace_id: traceId, req: serializeRequest(request), res: { statusCode: reply.statusCode }, responseTime }, 'request completed');
    done();
  };
}

interface DirectWriter {
  write(line: string): void;
  level: number;
  time: () => string;
  bindings: string;
}

type PinoInternals = Record<symbol, unknown> & { levels?: { values?: Record<string, number> } };

/**
 * pino's stream and line parts, when the logger is a plain pino logger (no mixin, hooks, message
 * prefix or formatters of its own, a stream that needs no metadata): then a line written to the
 * stream is exactly what pino would write. Undefined otherwise (the line then goes through pino).
 */
function directWriter(log: FastifyBaseLogger): DirectWriter | undefined {
  const internals = log as unknown as PinoInternals;
  const { streamSym, chindingsSym, timeSym, mixinSym, hooksSym, formattersSym, messageKeySym, needsMetadataGsym } = pino.symbols;
  // In pino 10, but not in its type declarations.
  const msgPrefixSym = (pino.symbols as Record<string, symbol>).msgPrefixSym;
  const stream = internals[streamSym] as { write?: (line: string) => void; [k: symbol]: unknown } | undefined;
  const bindings = internals[chindingsSym];
  const time = internals[timeSym];
  const formatters = internals[formattersSym] as { level?: unknown; log?: unknown } | undefined;
  const hooks = internals[hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const level = internals.levels?.values?.info;
  const plain =
    typeof stream?.write === 'function' && !stream[needsMetadataGsym] && typeof bindings === 'string' && typeof time === 'function' && typeof level === 'number' &&
    !internals[mixinSym] && !hooks?.logMethod && !hooks?.streamWrite && (msgPrefixSym === undefined || !internals[msgPrefixSym]) && internals[messageKeySym] === 'msg' &&
    formatters?.level === DEFAULT_FORMATTERS.level && formatters?.log === DEFAULT_FORMATTERS.log;
  if (!plain) return undefined;
  return { write: (line) => stream.write!(line), level, time: time as () => string, bindings };
}

// pino's own formatters, which a logger has unless it was given others.
const DEFAULT_FORMATTERS = (pino({ level: 'silent' }, { write: () => undefined }) as unknown as PinoInternals)[pino.symbols.formattersSym] as { level: unknown; log: unknown };

const json = JSON.stringify;

/** The line pino writes for `info({ reqId, trace_id, req, res, responseTime }, 'request completed')`. */
function accessLine(to: DirectWriter, request: FastifyRequest, statusCode: number, responseTime: number, traceId: string): string {
  const { path, route, remoteAddress } = serializeRequest(request);
  return (
    `{"level":${to.level}${to.time()}${to.bindings},"reqId":${json(request.id)},"trace_id":${json(traceId)}` +
    `,"req":{"method":${json(request.method)},"path":${json(path)}${route === undefined ? '' : `,"route":${json(route)}`}${remoteAddress === undefined ? '' : `,"remoteAddress":${json(remoteAddress)}`}}` +
    `,"res":{"statusCode":${statusCode}},"responseTime":${responseTime},"msg":"request completed"}\n`
  );
}
