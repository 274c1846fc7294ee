// /metrics of every service (checked by promtool) and a W3C trace through the system: the trace id
// on the downstream services' log lines and in the spans a local OTLP/HTTP receiver gets.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { call, latestCode, newPhoneNumber } from './support/client.ts';
import { describeEachMode } from './support/modes.ts';
import { startSystem, type ServiceName, type System } from './support/system.ts';

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
}

/** A tiny OTLP/HTTP (JSON) receiver on loopback: keeps every span it is sent. */
async function startOtlpReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      if (req.url === '/v1/traces' && String(req.headers['content-type']).startsWith('application/json')) {
        const body = JSON.parse(raw.toString()) as {
          resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<Omit<ReceivedSpan, 'service'>> }> }>;
        };
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, spans, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('promtool is missing (Debian package prometheus; .ci/run installs it)'));
      else resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
    child.stdin?.end(text);
  });
}

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(15_000) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const checked = await promtool(text);
  expect(checked.output, 'promtool check metrics').toBe('');
  expect(checked.code).toBe(0);
  return text;
}

/** The sample lines of `name` whose labels include every one of `labels`. */
function samples(text: string, name: string, labels: Record<string, string>): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)));
}

await describeEachMode('metrics and tracing', (mode) => {
  let system: System;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  const traceId = randomBytes(16).toString('hex');
  const callerSpanId = randomBytes(8).toString('hex');
  const traceparent = `00-${traceId}-${callerSpanId}-01`;
  const phone = newPhoneNumber();

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    system = await startSystem(mode, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100', ...(mode === 'distributed' ? { LOG_LEVEL: 'debug' } : {}) });
    // A login, its send and its check carrying the client's traceparent.
    const send = await fetch(`${system.url}/api/auth/send-verification`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({ phone_number: phone }),
    });
    expect(send.status).toBe(200);
    const code = await latestCode(system, phone);
    const verified = await fetch(`${system.url}/api/auth/verify-code`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({ phone_number: phone, code }),
    });
    expect(verified.status).toBe(200);
    const { tokens } = (await verified.json()) as { tokens: { access_token: string } };
    expect((await call(system, 'GET', '/api/auth/protected', { token: tokens.access_token })).status).toBe(200);
    expect((await call(system, 'POST', '/api/plaid/link-token', { token: tokens.access_token, body: {} })).status).toBe(200);
    expect((await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: '+1 555' } })).status).toBe(400);
  }, 180_000);
  afterAll(async () => {
    await system?.close();
    await receiver?.close();
  });

  it('serves /metrics on the gateway: request durations by route pattern, bus requests, the session mirror, process metrics; promtool accepts it', async () => {
    const text = await scrape(system.url);
    expect(samples(text, 'http_request_duration_seconds_count', { service: 'gateway', method: 'POST', route: '/api/auth/send-verification', status_code: '200' })).toHaveLength(1);
    expect(samples(text, 'http_request_duration_seconds_count', { service: 'gateway', method: 'POST', route: '/api/auth/send-verification', status_code: '400' })).toHaveLength(1);
    expect(samples(text, 'http_request_duration_seconds_count', { route: '/api/auth/protected', status_code: '200' })).toHaveLength(1);
    // The route pattern, never a URL: no label carries the phone number or a query.
    expect(text).not.toContain(phone);
    expect(samples(text, 'bus_request_duration_seconds_count', { subject: 'auth.verification.send', outcome: 'ok' })).toHaveLength(1);
    expect(text).toContain('# TYPE gateway_rate_limit_rejections_total counter');
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).not.toMatch(/route="\/metrics"/);
    if (mode === 'distributed') expect(text).toMatch(/^gateway_session_mirror_in_sync 1$/m);
    else {
      // Embedded: one registry, every service's metrics on the gateway.
      expect(samples(text, 'bus_handler_duration_seconds_count', { subject: 'token.pair.issue', outcome: 'ok' })).toHaveLength(1);
      expect(samples(text, 'upstream_request_duration_seconds_count', { upstream: 'twilio', operation: 'verifications.create', outcome: 'ok' })).toHaveLength(1);
      expect(samples(text, 'upstream_request_duration_seconds_count', { upstream: 'plaid', operation: '/link/token/create', outcome: 'ok' })).toHaveLength(1);
    }
  });

  it.skipIf(mode !== 'distributed')('serves /metrics on every service: handler durations by subject and outcome, Twilio and Plaid calls', async () => {
    const metricsOf = (name: ServiceName) => scrape(system.service!(name).url);
    const auth = await metricsOf('auth-service');
    expect(samples(auth, 'bus_handler_duration_seconds_count', { subject: 'auth.verification.send', outcome: 'ok' })).toHaveLength(1);
    expect(samples(auth, 'bus_request_duration_seconds_count', { subject: 'token.pair.issue', outcome: 'ok' })).toHaveLength(1);
    expect(samples(auth, 'upstream_request_duration_seconds_count', { upstream: 'twilio', operation: 'verifications.create', outcome: 'ok' })).toHaveLength(1);
    expect(samples(auth, 'upstream_request_duration_seconds_count', { upstream: 'twilio', operation: 'verification_checks.create', outcome: 'ok' })).toHaveLength(1);
    expect(samples(auth, 'http_request_duration_seconds_count', { service: 'auth-service', route: '/ready' }).length).toBeGreaterThan(0);
    const token = await metricsOf('token-service');
    expect(samples(token, 'bus_handler_duration_seconds_count', { subject: 'token.pair.issue', outcome: 'ok' })).toHaveLength(1);
    const plaid = await metricsOf('plaid-service');
    expect(samples(plaid, 'bus_handler_duration_seconds_count', { subject: 'plaid.link_token.create', outcome: 'ok' })).toHaveLength(1);
    expect(samples(plaid, 'upstream_request_duration_seconds_count', { upstream: 'plaid', operation: '/link/token/create', outcome: 'ok' })).toHaveLength(1);
  });

  it("carries the client's traceparent to every service: spans received over OTLP, the trace id on the services' log lines", async () => {
    const services = mode === 'distributed' ? ['gateway', 'auth-service', 'token-service'] : ['embedded'];
    const spans = await eventually('spans of the trace from every service', () => {
      const inTrace = receiver.spans.filter((s) => s.traceId === traceId);
      return services.every((name) => inTrace.some((s) => s.service === name)) && inTrace.some((s) => s.name === 'token.pair.issue') ? inTrace : undefined;
    });
    // The gateway's spans continue the client's; a handler's span is a child of its caller's.
    const gatewaySpans = spans.filter((s) => s.parentSpanId === callerSpanId);
    expect(gatewaySpans.map((s) => s.name).sort()).toEqual(['POST /api/auth/send-verification', 'POST /api/auth/verify-code']);
    const send = spans.find((s) => s.name === 'auth.verification.send')!;
    expect(gatewaySpans.map((s) => s.spanId)).toContain(send.parentSpanId);
    const check = spans.find((s) => s.name === 'auth.verification.check')!;
    const issue = spans.find((s) => s.name === 'token.pair.issue')!;
    expect(issue.parentSpanId).toBe(check.spanId);

    if (mode === 'distributed') {
      for (const name of ['gateway', 'auth-service', 'token-service'] as const) {
        await eventually(`${name} logging trace_id ${traceId}`, () => (system.service!(name).output.includes(`"trace_id":"${traceId}"`) ? true : undefined));
      }
    }
  }, 150_000);
});
