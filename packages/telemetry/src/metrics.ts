import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';

export { Registry } from 'prom-client';

/** Seconds: 1 ms to 10 s (bus budgets end at 10 s, Twilio and Plaid timeouts around there). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A registry of its own (never prom-client's global one) with the process metrics. One per service
 * process; the embedded runner shares one between its services, whose metrics then carry a
 * `service` label each (HTTP) or are told apart by subject (bus).
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters (promtool refuses them); the same counts by type remain
  // (nodejs_active_handles, nodejs_active_requests, nodejs_active_resources).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  return registry;
}

/** The registry's metric of that name, created on first use, so services sharing a registry share it too. */
function metric<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

export function httpDuration(registry: Registry): SeriesHistogram<'service' | 'method' | 'route' | 'status_code'> {
  return metric(registry, 'http_request_duration_seconds', () => new SeriesHistogram(registry, {
    name: 'http_request_duration_seconds',
    help: 'HTTP requests answered, by route pattern and status code, in seconds',
    labelNames: ['service', 'method', 'route', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
  }));
}

/** One label set's counts: per bucket (not cumulative; summed when scraped), sum and count. */
interface Series {
  labels: Record<string, string>;
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** One label set of a SeriesHistogram: an observation is a bucket search and three additions. */
export interface HistogramSeries {
  observe(value: number): void;
}

/**
 * A histogram for what is observed on every request: its label sets are looked up once
 * (`series`), by the caller, not on each observation. prom-client's Histogram validates the
 * labels and builds and hashes a string of them on every observe, about 0.5 µs of every HTTP
 * request. Registered in a prom-client Registry like its own metrics (name, help, type, get,
 * reset) and exposed in the same text, bucket for bucket.
 */
export class SeriesHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly labelNames: readonly L[];
  private readonly upperBounds: number[];
  private readonly all = new Map<string, Series>();

  constructor(registry: Registry, options: { name: string; help: string; labelNames: readonly L[]; buckets: number[] }) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.upperBounds = [...options.buckets].sort((a, b) => a - b);
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of these label values (in labelNames' order), made on first use. */
  series(...values: string[]): HistogramSeries {
    const key = values.join('\u0000');
    let series = this.all.get(key);
    if (!series) {
      series = { labels: Object.fromEntries(this.labelNames.map((name, i) => [name, values[i] ?? ''])), buckets: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 };
      this.all.set(key, series);
    }
    const { upperBounds } = this;
    const found = series;
    return {
      observe(value: number) {
        if (!Number.isFinite(value)) return;
        let i = 0;
        while (i < upperBounds.length && value > upperBounds[i]!) i++;
        found.buckets[i]! += 1;
        found.sum += value;
        found.count += 1;
      },
    };
  }

  /** prom-client's metric shape: cumulative buckets with `le`, then `_sum` and `_count`, per series. */
  async get() {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const series of this.all.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((bound, i) => {
        cumulative += series.buckets[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound, ...series.labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...series.labels }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: series.labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: series.labels, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Forgets every observation (prom-client's Registry.resetMetrics); the series stay usable. */
  reset(): void {
    for (const series of this.all.values()) {
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}

export interface BusMetrics {
  /** Requests this process made, by subject and outcome ("ok" or the error code). */
  request(subject: string, outcome: string, seconds: number): void;
  /** Requests this process's handlers answered, by subject and outcome. */
  handled(subject: string, outcome: string, seconds: number): void;
}

export function busMetrics(registry: Registry): BusMetrics {
  const requests = metric(registry, 'bus_request_duration_seconds', () => new Histogram({
    name: 'bus_request_duration_seconds',
    help: 'Bus requests made (client side, retries included), by subject and outcome (ok or the error code), in seconds',
    labelNames: ['subject', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  }));
  const handled = metric(registry, 'bus_handler_duration_seconds', () => new Histogram({
    name: 'bus_handler_duration_seconds',
    help: 'Bus requests handled (server side), by subject and outcome (ok or the error code), in seconds',
    labelNames: ['subject', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  }));
  return {
    request: (subject, outcome, seconds) => requests.observe({ subject, outcome }, seconds),
    handled: (subject, outcome, seconds) => handled.observe({ subject, outcome }, seconds),
  };
}

export type Upstream = 'twilio' | 'plaid';

export interface UpstreamMetrics {
  /** Times `call`, counted by outcome: "ok", or the error code `codeOf` gives its failure. */
  time<T>(operation: string, call: () => Promise<T>, codeOf: (err: unknown) => string): Promise<T>;
  /** One call, timed by the caller (when the operation is known only from its answer). */
  record(operation: string, outcome: string, seconds: number): void;
}

/** Calls to a third-party API (Twilio Verify, Plaid): durations and errors by operation. */
export function upstreamMetrics(registry: Registry, upstream: Upstream): UpstreamMetrics {
  const duration = metric(registry, 'upstream_request_duration_seconds', () => new Histogram({
    name: 'upstream_request_duration_seconds',
    help: 'Calls to third-party APIs (twilio, plaid), by operation and outcome (ok or our error code), in seconds',
    labelNames: ['upstream', 'operation', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  }));
  const errors = metric(registry, 'upstream_request_errors_total', () => new Counter({
    name: 'upstream_request_errors_total',
    help: 'Failed calls to third-party APIs (twilio, plaid), by operation and our error code',
    labelNames: ['upstream', 'operation', 'code'] as const,
    registers: [registry],
  }));
  const record = (operation: string, outcome: string, seconds: number) => {
    duration.observe({ upstream, operation, outcome }, seconds);
    if (outcome !== 'ok') errors.inc({ upstream, operation, code: outcome });
  };
  return {
    record,
    async time(operation, call, codeOf) {
      const started = performance.now();
      let outcome = 'ok';
      try {
        return await call();
      } catch (err) {
        outcome = codeOf(err);
        throw err;
      } finally {
        record(operation, outcome, (performance.now() - started) / 1000);
      }
    },
  };
}

export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return metric(registry, name, () => new Counter({ name, help, labelNames, registers: [registry] }));
}

/** A gauge read when scraped (nothing to keep up to date per request). */
export function gauge(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return metric(registry, name, () => new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  }));
}

export type { LabelValues };
