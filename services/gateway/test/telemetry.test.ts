// The gateway's metrics and trace context: rate-limit rejections, the session mirror's state,
// /metrics outside the limits and the request log, trace_id on log lines, traceparent to the bus.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Redis } from 'ioredis';
import { InProcessBus, handle } from '@repo/bus';
import { AuthSubjects } from '@repo/contracts';
import { loggerOptions, parseEnv } from '@repo/runtime';
import { MemorySessionStore, RedisSessionMirror } from '@repo/stores';
import { createMetricsRegistry, parseTraceparent } from '@repo/telemetry';
import { buildGateway, GatewayEnv } from '../src/app.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

function logLines() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('gateway metrics', () => {
  it('counts rate-limit rejections; /metrics is neither limited nor logged', async () => {
    const registry = createMetricsRegistry();
    const { lines, logger } = logLines();
    const settings = parseEnv(GatewayEnv, { RATE_LIMIT_PER_IP_PER_MINUTE: '2' });
    const app = await buildGateway({ settings, bus: new InProcessBus(), sessions: new MemorySessionStore(), logger, metrics: { registry, expose: true } });
    closers.push(() => app.close());
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await app.inject({ method: 'GET', url: '/api/auth/protected' })).statusCode);
    expect(statuses).toEqual([401, 401, 429, 429]);
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/^gateway_rate_limit_rejections_total\{limit="per_ip"\} 2$/m);
    expect(text).toContain('http_request_duration_seconds_count{service="gateway",method="GET",route="/api/auth/protected",status_code="429"} 2');
    const logged = lines.filter((l) => l.msg === 'request completed');
    expect(logged).toHaveLength(4);
    expect(logged.every((l) => (l.req as { path: string }).path === '/api/auth/protected')).toBe(true);
  });

  it('serves no /metrics with METRICS_ENABLED=false (expose: false)', async () => {
    const app = await buildGateway({ settings: parseEnv(GatewayEnv, {}), bus: new InProcessBus(), sessions: new MemorySessionStore(), metrics: { registry: createMetricsRegistry(), expose: false } });
    closers.push(() => app.close());
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
  });

  it("reports whether the session mirror is in sync with Redis (a real mirror)", async () => {
    const redis = new Redis(REDIS_URL, { keyPrefix: `test:gateway-metrics:${randomUUID()}:` });
    closers.push(async () => redis.disconnect());
    const mirror = new RedisSessionMirror(redis);
    closers.push(() => mirror.close());
    const registry = createMetricsRegistry();
    const app = await buildGateway({ settings: parseEnv(GatewayEnv, {}), bus: new InProcessBus(), sessions: mirror, metrics: { registry, expose: true } });
    closers.push(() => app.close());
    const gaugeValue = async () => /^gateway_session_mirror_in_sync (\d)$/m.exec((await app.inject({ method: 'GET', url: '/metrics' })).body)?.[1];
    expect(await gaugeValue()).toBe('0');
    mirror.start();
    await eventually('the mirror in sync', async () => ((await gaugeValue()) === '1' ? true : undefined));
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^gateway_session_mirror_entries \d+$/m);
  });
});

describe('gateway trace context', () => {
  it("continues the client's traceparent: trace_id on the request's log line, a child traceparent to the bus", async () => {
    const bus = new InProcessBus();
    const seen: Array<string | undefined> = [];
    const { lines, logger } = logLines();
    // A stand-in auth handler on the real in-process bus, logging through its context like a service.
    const service = await bus.serve({ name: 'auth-service', version: '1.0.0', log: logger }, [
      handle(AuthSubjects.sendVerification, async (_payload, ctx) => {
        ctx.log.info({}, 'handler ran');
        seen.push('ok');
        return { status: 'pending' as const };
      }),
    ]);
    closers.push(() => service.stop());
    const app = await buildGateway({ settings: parseEnv(GatewayEnv, {}), bus, sessions: new MemorySessionStore(), logger });
    closers.push(() => app.close());
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await app.inject({ method: 'POST', url: '/api/auth/send-verification', payload: { phone_number: '+14155552671' }, headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(res.statusCode).toBe(200);
    expect(seen).toEqual(['ok']);
    expect(lines.find((l) => l.msg === 'request completed')?.trace_id).toBe(traceId);
    expect(lines.find((l) => l.msg === 'handler ran')?.trace_id).toBe(traceId);

    // Without one (or with an invalid one), a new trace per request.
    await app.inject({ method: 'POST', url: '/api/auth/send-verification', payload: { phone_number: '+14155552672' }, headers: { traceparent: 'nonsense' } });
    await app.inject({ method: 'POST', url: '/api/auth/send-verification', payload: { phone_number: '+14155552673' } });
    const ids = lines.filter((l) => l.msg === 'handler ran').map((l) => l.trace_id as string);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(parseTraceparent(`00-${id}-00f067aa0ba902b7-01`)).toBeDefined();
  });
});

describe("a request's own logger", () => {
  it('writes its lines with the request id and trace id, through the redaction of every other line', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino(loggerOptions('gateway', 'info'), stream);
    const app = await buildGateway({ settings: parseEnv(GatewayEnv, {}), bus: new InProcessBus(), sessions: new MemorySessionStore(), logger });
    closers.push(() => app.close());
    app.get('/log-something', async (request) => {
      request.log.warn({ token: { access_token: 'secret-token' } }, 'something to say');
      request.log.debug({}, 'below the level');
      return { ok: true };
    });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await app.inject({ method: 'GET', url: '/log-something', headers: { 'x-request-id': 'lazy-1', traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(res.statusCode).toBe(200);
    const said = lines.filter((l) => l.msg === 'something to say');
    expect(said).toEqual([expect.objectContaining({ reqId: 'lazy-1', trace_id: traceId, token: { access_token: '[redacted]' } })]);
    expect(lines.some((l) => l.msg === 'below the level')).toBe(false);
    expect(JSON.stringify(lines)).not.toContain('secret-token');
  });
});
