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

export function httpDuration(registry: Registry): Histogram<'service' | 'method' | 'route' | 'status_code'> {
  return metric(registry, 'http_request_duration_seconds', () => new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests answered, by route pattern and status code, in seconds',
    labelNames: ['service', 'method', 'route', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  }));
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
