import { ROOT_CONTEXT, trace, type TextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { describe, expect, it } from 'vitest';
import { TraceHop, formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../src/index.ts';

const otel = new W3CTraceContextPropagator();
const getter: TextMapGetter<Record<string, string>> = { get: (carrier, key) => carrier[key], keys: (carrier) => Object.keys(carrier) };

/** What OpenTelemetry's own propagator makes of the header: our parser must agree with it. */
function otelParse(header: string) {
  const ctx = trace.getSpanContext(otel.extract(ROOT_CONTEXT, { traceparent: header }, getter));
  return ctx ? { traceId: ctx.traceId, spanId: ctx.spanId, sampled: (ctx.traceFlags & 1) === 1 } : undefined;
}

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

describe('parseTraceparent', () => {
  const cases = [
    `00-${T}-${S}-01`,
    `00-${T}-${S}-00`,
    `00-${T}-${S}-03`,
    `01-${T}-${S}-01-future-field`,
    `01-${T}-${S}-01`,
    `00-${T}-${S}-01-extra`,
    `ff-${T}-${S}-01`,
    `00-${'0'.repeat(32)}-${S}-01`,
    `00-${T}-${'0'.repeat(16)}-01`,
    `00-${T.toUpperCase()}-${S}-01`,
    `00-${T}-${S}-1`,
    `00-${T}-${S}`,
    `0-${T}-${S}-01`,
    `00_${T}_${S}_01`,
    'garbage',
    '',
  ];
  for (const header of cases) {
    it(`agrees with OpenTelemetry's W3CTraceContextPropagator on ${JSON.stringify(header)}`, () => {
      expect(parseTraceparent(header)).toEqual(otelParse(header));
    });
  }

  it('reads a valid header and refuses what is not one', () => {
    expect(parseTraceparent(`00-${T}-${S}-01`)).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(parseTraceparent(undefined)).toBeUndefined();
    expect(parseTraceparent([`00-${T}-${S}-01`])).toBeUndefined();
    expect(parseTraceparent(`00-${T}-${S}-01${'x'.repeat(1000)}`)).toBeUndefined();
  });

  it('formats what it parses', () => {
    for (const header of [`00-${T}-${S}-01`, `00-${T}-${S}-00`]) expect(formatTraceparent(parseTraceparent(header)!)).toBe(header);
  });
});

describe('ids and hops', () => {
  it('makes valid, distinct ids', () => {
    const traces = new Set(Array.from({ length: 1000 }, newTraceId));
    const spans = new Set(Array.from({ length: 1000 }, newSpanId));
    expect(traces.size).toBe(1000);
    expect(spans.size).toBe(1000);
    for (const id of traces) expect(id).toMatch(/^[0-9a-f]{32}$/);
    for (const id of spans) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(otelParse(formatTraceparent({ traceId: newTraceId(), spanId: newSpanId(), sampled: true }))).toBeDefined();
  });

  it("continues the caller's trace with a span id of its own, or starts one (without tracing: no span)", () => {
    const hop = new TraceHop('x', 'server', { traceId: T, spanId: S, sampled: true });
    expect(hop.traceId).toBe(T);
    expect(hop.spanId).not.toBe(S);
    expect(hop.spanId).toBe(hop.spanId);
    expect(parseTraceparent(hop.traceparent)).toEqual({ traceId: T, spanId: hop.spanId, sampled: true });
    const fresh = new TraceHop('x', 'server', undefined);
    expect(fresh.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh.traceId).not.toBe(T);
    expect(parseTraceparent(fresh.traceparent)?.sampled).toBe(false);
    fresh.end('ERR');
  });
});
