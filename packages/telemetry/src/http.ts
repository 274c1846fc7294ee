import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import type { Registry } from 'prom-client';
import { httpDuration, type HistogramSeries, type SeriesHistogram } from './metrics.ts';

export const METRICS_PATH = '/metrics';

/** A service's metrics: where they go, and whether its HTTP server serves them. */
export interface MetricsSetup {
  registry: Registry;
  /** Serve GET /metrics (METRICS_ENABLED); the metrics are recorded either way. */
  expose: boolean;
}

export interface HttpMetricsOptions extends MetricsSetup {
  service: string;
}

type OnResponse = (request: FastifyRequest, reply: FastifyReply, done: () => void) => void;

/**
 * Request durations by route pattern and status, and GET /metrics. Call it right after creating
 * the app, before any route: each route gets its own onResponse hook (added in onRoute) that knows
 * its pattern and keeps one histogram child per status code, so a request costs one observe and
 * no label object. Requests that match no route are not counted (their URLs are not label values).
 */
export function instrumentHttp(app: FastifyInstance, opts: HttpMetricsOptions): void {
  const duration = httpDuration(opts.registry);
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.url === METRICS_PATH) return;
    const hook = observer(duration, opts.service, typeof route.method === 'string' ? route.method : undefined, route.url);
    const own = route.onResponse;
    route.onResponse = own === undefined ? [hook] : [...(Array.isArray(own) ? own : [own]), hook];
  });
  if (!opts.expose) return;
  app.get(METRICS_PATH, {
    // Scrapes are neither rate limited nor logged per request (only warnings and errors).
    logLevel: 'warn',
    config: { rateLimit: false },
    // Left out of the OpenAPI document (@fastify/swagger reads `hide`).
    schema: { hide: true } as FastifySchema,
  }, async (_request, reply) => {
    reply.header('content-type', opts.registry.contentType).header('cache-control', 'no-store');
    return opts.registry.metrics();
  });
}

function observer(duration: SeriesHistogram<'service' | 'method' | 'route' | 'status_code'>, service: string, method: string | undefined, route: string): OnResponse {
  const byStatus = new Map<string | number, HistogramSeries>();
  return (request, reply, done) => {
    const status = reply.statusCode;
    // A route with several methods keys by both (rare); one method, by the status alone.
    const key = method === undefined ? `${request.method} ${status}` : status;
    let child = byStatus.get(key);
    if (!child) {
      child = duration.series(service, method ?? request.method, route, String(status));
      byStatus.set(key, child);
    }
    child.observe(reply.elapsedTime / 1000);
    done();
  };
}
