import type { IncomingMessage } from 'node:http';
import { continueTrace, type TraceHop } from '@repo/telemetry';

const TRACE = Symbol('trace');
type Traced = IncomingMessage & { [TRACE]?: TraceHop };

/**
 * The request's part of its trace: the client's W3C `traceparent` continued (a new trace when it
 * has none, or an invalid one), made on first use (the request logger's child bindings) and kept on
 * the raw request. Its `traceparent` goes with every bus request the route makes.
 */
export function requestTrace(raw: IncomingMessage): TraceHop {
  const traced = raw as Traced;
  return (traced[TRACE] ??= continueTrace(`${raw.method ?? 'HTTP'}`, 'server', raw.headers.traceparent));
}

/** What routes hand the bus: the request id and the trace. */
export function busOptions(request: { id: string; raw: IncomingMessage }): { requestId: string; traceparent: string } {
  return { requestId: request.id, traceparent: requestTrace(request.raw).traceparent };
}
