import { randomUUID } from 'node:crypto';

/** W3C Trace Context's `traceparent`: the trace, the caller's span, whether the trace is sampled. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

export const TRACEPARENT_HEADER = 'traceparent';

// version-traceid-parentid-flags; later versions may add fields after a dash (https://www.w3.org/TR/trace-context/#traceparent-header).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/** The header's trace, or undefined when it is missing or invalid (the receiver then starts a new trace, as the spec says). */
export function parseTraceparent(header: string | string[] | undefined | null): TraceParent | undefined {
  if (typeof header !== 'string' || header.length < 55 || header.length > 512) return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(t: TraceParent): string {
  return `00-${t.traceId}-${t.spanId}-${t.sampled ? '01' : '00'}`;
}

/** 32 random hex digits (from a UUID v4: node caches its entropy, so this is the cheapest random id node has). */
export function newTraceId(): string {
  const u = randomUUID();
  return u.slice(0, 8) + u.slice(9, 13) + u.slice(14, 18) + u.slice(19, 23) + u.slice(24);
}

export function newSpanId(): string {
  const u = randomUUID();
  return u.slice(0, 8) + u.slice(24, 32);
}
