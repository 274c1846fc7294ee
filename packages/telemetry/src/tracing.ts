// Spans, only when OTEL_EXPORTER_OTLP_ENDPOINT is set: the SDK and its exporter are imported then
// and only then, so the default path loads nothing of them and a hop costs an id or two.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, type TraceParent } from './trace-context.ts';

let tracer: Tracer | undefined;
let stopTracing: (() => Promise<void>) | undefined;

/** The variables that turn export on (the exporter reads them, and the other OTEL_* ones, itself). */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts exporting spans over OTLP/HTTP (JSON) when the endpoint is configured; otherwise does
 * nothing. Once per process (embedded mode: one exporter for every service). Resolves to the
 * function that flushes and stops it.
 */
export async function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<() => Promise<void>> {
  if (!tracingConfigured(env)) return async () => undefined;
  if (stopTracing) return stopTracing;
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: tracesUrl(env) }) })],
  });
  tracer = provider.getTracer('phone-login');
  let stopped: Promise<void> | undefined;
  stopTracing = () => (stopped ??= provider.shutdown().finally(() => {
    tracer = undefined;
    stopTracing = undefined;
  }));
  return stopTracing;
}

/** OTLP/HTTP's rule: the traces endpoint as given, or the base endpoint plus /v1/traces. */
function tracesUrl(env: NodeJS.ProcessEnv): string {
  return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${(env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').replace(/\/+$/, '')}/v1/traces`;
}

export type HopKind = 'server' | 'client';

/**
 * This process's part of a trace: a request it serves (continuing the caller's `traceparent`, or
 * starting a trace) and, while tracing is on, its span.
 */
export class TraceHop {
  readonly traceId: string;
  readonly sampled: boolean;
  private id: string | undefined;
  private readonly span: Span | undefined;

  constructor(name: string, kind: HopKind, parent: TraceParent | undefined, attributes?: Record<string, string | number>) {
    if (tracer) {
      const parentContext = parent ? trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.sampled ? 1 : 0, isRemote: true }) : ROOT_CONTEXT;
      this.span = tracer.startSpan(name, { kind: kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT, ...(attributes ? { attributes } : {}) }, parentContext);
      const ctx = this.span.spanContext();
      this.traceId = ctx.traceId;
      this.id = ctx.spanId;
      this.sampled = (ctx.traceFlags & 1) === 1;
    } else {
      this.traceId = parent?.traceId ?? newTraceId();
      this.sampled = parent?.sampled ?? false;
    }
  }

  /** This hop's span id, the parent of the calls it makes (made on first use: most hops never call on). */
  get spanId(): string {
    return (this.id ??= newSpanId());
  }

  /** The `traceparent` for the calls this hop makes. */
  get traceparent(): string {
    return formatTraceparent({ traceId: this.traceId, spanId: this.spanId, sampled: this.sampled });
  }

  /** Names the span once it is known what it was (an HTTP request's route). */
  rename(name: string): void {
    this.span?.updateName(name);
  }

  setAttribute(key: string, value: string | number): void {
    this.span?.setAttribute(key, value);
  }

  /** Ends the span; `error`: the error code it failed with. */
  end(error?: string): void {
    if (!this.span) return;
    if (error) this.span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    this.span.end();
  }
}

/** Continues the trace of an incoming `traceparent` header (a new trace when it is missing or invalid). */
export function continueTrace(name: string, kind: HopKind, traceparent: string | string[] | undefined | null, attributes?: Record<string, string | number>): TraceHop {
  return new TraceHop(name, kind, parseTraceparent(traceparent), attributes);
}

export function tracingActive(): boolean {
  return tracer !== undefined;
}
