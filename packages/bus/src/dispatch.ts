import { AppError, type ErrorBody } from '@repo/contracts';
import { continueTrace, type BusMetrics } from '@repo/telemetry';
import type { BusLogger, EndpointHandler, HandlerContext } from './bus.ts';
import { runInHandlerContext } from './budget.ts';
import { assertMatches } from './validation.ts';

export type DispatchResult = { ok: true; data: unknown } | { ok: false; error: ErrorBody };

/** One request as a transport received it. */
export interface Incoming {
  payload: unknown;
  requestId: string | undefined;
  deadline: number;
  /** The caller's `traceparent` header, if any. */
  traceparent: string | undefined;
}

/**
 * Serves one request on any transport: continues its trace (the handler's log lines carry
 * `trace_id`; a span when tracing is on), dispatches it, and records its duration and outcome.
 */
export async function serveRequest(handler: EndpointHandler, incoming: Incoming, serviceLog: BusLogger, metrics: BusMetrics | undefined): Promise<DispatchResult> {
  const subject = handler.endpoint.subject;
  const started = performance.now();
  const hop = continueTrace(subject, 'server', incoming.traceparent, { 'messaging.destination.name': subject });
  const log = serviceLog.child({ reqId: incoming.requestId, subject, trace_id: hop.traceId });
  const result = await dispatch(handler, incoming.payload, { requestId: incoming.requestId, deadline: incoming.deadline, log }, () => hop.traceparent);
  const outcome = result.ok ? 'ok' : result.error.code;
  const ms = performance.now() - started;
  metrics?.handled(subject, outcome, ms / 1000);
  hop.end(result.ok ? undefined : outcome);
  log.debug?.({ outcome, durationMs: Math.round(ms * 100) / 100 }, 'bus request handled');
  return result;
}

/**
 * Runs one handler the same way on every transport: skip it when its caller has given up already,
 * validate the request, call it inside its deadline context, validate the reply, and turn any
 * failure into an error body. Every 5xx is logged here with its cause; unexpected errors travel on
 * only as a generic INTERNAL.
 */
export async function dispatch(handler: EndpointHandler, payload: unknown, ctx: HandlerContext, traceparent: () => string | undefined = () => undefined): Promise<DispatchResult> {
  const subject = handler.endpoint.subject;
  try {
    if (Date.now() >= ctx.deadline) {
      throw new AppError('SERVICE_UNAVAILABLE', `The request to ${subject} arrived after its deadline`, { retryAfter: 1 });
    }
    assertMatches(handler.endpoint.request, payload, `request to ${subject}`);
    const data = await runInHandlerContext({ requestId: ctx.requestId, deadline: ctx.deadline, traceparent: traceparent() }, () => handler.handle(payload, ctx));
    assertMatches(handler.endpoint.response, data, `reply from ${subject}`, 'INTERNAL');
    return { ok: true, data };
  } catch (err) {
    if (err instanceof AppError && err.code !== 'INTERNAL') {
      if (err.statusCode >= 500) {
        const level = err.statusCode === 503 ? 'warn' : 'error';
        ctx.log[level]({ err, subject, code: err.code }, `handler answered ${err.statusCode} ${err.code}`);
      }
      return { ok: false, error: err.toBody() };
    }
    ctx.log.error({ err, subject }, 'handler failed');
    return { ok: false, error: new AppError('INTERNAL').toBody() };
  }
}

/** Times a request this process makes: its whole budget, retries included, by outcome. */
export async function timedRequest<T>(metrics: BusMetrics | undefined, subject: string, request: () => Promise<T>): Promise<T> {
  if (!metrics) return request();
  const started = performance.now();
  try {
    const data = await request();
    metrics.request(subject, 'ok', (performance.now() - started) / 1000);
    return data;
  } catch (err) {
    metrics.request(subject, err instanceof AppError ? err.code : 'INTERNAL', (performance.now() - started) / 1000);
    throw err;
  }
}
