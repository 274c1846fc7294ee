import { execFileSync } from 'node:child_process';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { Histogram, Registry } from 'prom-client';
import { busMetrics, createMetricsRegistry, instrumentHttp, SeriesHistogram, upstreamMetrics } from '../src/index.ts';

function promtool(text: string): string {
  // Throws (with promtool's complaints) on a non-zero exit.
  return execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 60_000 });
}

describe('SeriesHistogram', () => {
  it("is exposed exactly as prom-client's Histogram with the same observations, and resets", async () => {
    const options = { name: 'h_seconds', help: 'a "test" histogram', labelNames: ['route', 'status_code'] as const, buckets: [0.001, 0.005, 0.1, 0.5] };
    const ours = new Registry();
    const theirs = new Registry();
    const fast = new SeriesHistogram(ours, options);
    const reference = new Histogram({ ...options, registers: [theirs] });
    // Bounds themselves (le is inclusive), between, above the last, and label values to escape.
    const observations: Array<[string, string, number]> = [
      ['/a/:id', '200', 0.001], ['/a/:id', '200', 0.003], ['/a/:id', '200', 0.005], ['/a/:id', '200', 7],
      ['/a/:id', '404', 0.2], ['/quote"and\\slash', '200', 0], ['/a/:id', '200', Number.NaN],
    ];
    for (const [route, status, value] of observations) {
      fast.series(route, status).observe(value);
      if (Number.isFinite(value)) reference.labels(route, status).observe(value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('h_seconds_count{route="/a/:id",status_code="200"} 4');
    ours.resetMetrics();
    expect(await ours.metrics()).toContain('h_seconds_count{route="/a/:id",status_code="200"} 0');
    fast.series('/a/:id', '200').observe(0.01);
    expect(await ours.metrics()).toContain('h_seconds_bucket{le="0.1",route="/a/:id",status_code="200"} 1');
  });
});

describe('instrumentHttp', () => {
  it('counts requests by route pattern and status, serves /metrics (not counted itself), and promtool accepts the output', async () => {
    const registry = createMetricsRegistry();
    const app = Fastify();
    instrumentHttp(app, { registry, service: 'svc', expose: true });
    app.get('/items/:id', async (request, reply) => ((request.params as { id: string }).id === 'missing' ? reply.status(404).send({}) : { ok: true }));
    await app.register(async (child) => {
      child.post('/nested', async () => ({ ok: true }));
    }, { prefix: '/p' });
    for (const id of ['1', '2', 'missing']) await app.inject({ method: 'GET', url: `/items/${id}?secret=x` });
    await app.inject({ method: 'POST', url: '/p/nested' });
    await app.inject({ method: 'GET', url: '/nowhere' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
    expect(text).toContain('http_request_duration_seconds_count{service="svc",method="GET",route="/items/:id",status_code="200"} 2');
    expect(text).toContain('http_request_duration_seconds_count{service="svc",method="GET",route="/items/:id",status_code="404"} 1');
    expect(text).toContain('http_request_duration_seconds_count{service="svc",method="POST",route="/p/nested",status_code="200"} 1');
    expect(text).not.toContain('/nowhere');
    expect(text).not.toContain('route="/metrics"');
    expect(text).not.toContain('secret');
    expect(text).toContain('process_resident_memory_bytes');
    expect(() => promtool(text)).not.toThrow();
    await app.close();
  });

  it('records but does not serve /metrics when not exposed', async () => {
    const registry = createMetricsRegistry();
    const app = Fastify();
    instrumentHttp(app, { registry, service: 'svc', expose: false });
    app.get('/x', async () => ({}));
    await app.inject({ method: 'GET', url: '/x' });
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    expect(await registry.metrics()).toContain('route="/x"');
    await app.close();
  });
});

describe('bus and upstream metrics', () => {
  it('times bus requests and upstream calls by outcome, counting upstream errors; services sharing a registry share the metrics', async () => {
    const registry = createMetricsRegistry();
    const bus = busMetrics(registry);
    bus.request('a.b', 'ok', 0.01);
    bus.handled('a.b', 'SERVICE_UNAVAILABLE', 0.02);
    busMetrics(registry).request('a.b', 'ok', 0.01);
    const twilio = upstreamMetrics(registry, 'twilio');
    await twilio.time('verifications.create', async () => 1, () => 'X');
    await expect(twilio.time('verifications.create', async () => Promise.reject(new Error('down')), () => 'VERIFICATION_PROVIDER_UNAVAILABLE')).rejects.toThrow('down');
    upstreamMetrics(registry, 'plaid').record('/item/get', 'PLAID_UNAVAILABLE', 0.5);
    const text = await registry.metrics();
    expect(text).toContain('bus_request_duration_seconds_count{subject="a.b",outcome="ok"} 2');
    expect(text).toContain('bus_handler_duration_seconds_count{subject="a.b",outcome="SERVICE_UNAVAILABLE"} 1');
    expect(text).toContain('upstream_request_duration_seconds_count{upstream="twilio",operation="verifications.create",outcome="ok"} 1');
    expect(text).toContain('upstream_request_errors_total{upstream="twilio",operation="verifications.create",code="VERIFICATION_PROVIDER_UNAVAILABLE"} 1');
    expect(text).toContain('upstream_request_errors_total{upstream="plaid",operation="/item/get",code="PLAID_UNAVAILABLE"} 1');
    expect(() => promtool(text)).not.toThrow();
  });
});
