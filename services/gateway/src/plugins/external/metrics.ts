import type { FastifyInstance } from 'fastify';
import type { SessionReader } from '@repo/stores';
import { counter, gauge, instrumentHttp, tracingActive, type MetricsSetup } from '@repo/telemetry';
import { requestTrace } from '../../http/trace.ts';

/** What a RedisSessionMirror tells about itself (its read-only `state()`). */
interface MirrorState {
  state(): { inSync: boolean; entries: number };
}

export type RateLimitKind = 'per_ip' | 'keyed';

/**
 * The gateway's metrics and spans. Called on the bare app, before any route (see instrumentHttp):
 * request durations by route, GET /metrics, rate-limit rejections, the session mirror's state
 * (read when scraped), and, only while tracing is on, one span per request.
 * Returns the rate-limit plugin's `onRejected`.
 */
export function gatewayTelemetry(app: FastifyInstance, metrics: MetricsSetup | undefined, sessions: SessionReader): ((kind: RateLimitKind) => void) | undefined {
  if (tracingActive()) {
    app.addHook('onResponse', (request, reply, done) => {
      const hop = requestTrace(request.raw);
      const route = request.routeOptions.url;
      if (route) {
        hop.rename(`${request.method} ${route}`);
        hop.setAttribute('http.route', route);
      }
      hop.setAttribute('http.response.status_code', reply.statusCode);
      hop.end(reply.statusCode >= 500 ? String(reply.statusCode) : undefined);
      done();
    });
  }
  if (!metrics) return undefined;
  instrumentHttp(app, { ...metrics, service: 'gateway' });
  const rejections = counter(metrics.registry, 'gateway_rate_limit_rejections_total', 'Requests the gateway refused with 429 RATE_LIMITED, by limit (per_ip: the per-IP limit; keyed: a route limit, e.g. per phone number)', ['limit'] as const);
  if (typeof (sessions as Partial<MirrorState>).state === 'function') {
    const mirror = sessions as unknown as MirrorState;
    gauge(metrics.registry, 'gateway_session_mirror_in_sync', 'Whether the gateway\'s copy of session revocations is in sync with Redis (1) or not (0: protected requests fail closed with 503)', () => (mirror.state().inSync ? 1 : 0));
    gauge(metrics.registry, 'gateway_session_mirror_entries', 'Sessions the gateway\'s revocation mirror holds in memory', () => mirror.state().entries);
  }
  return (kind) => rejections.inc({ limit: kind });
}
