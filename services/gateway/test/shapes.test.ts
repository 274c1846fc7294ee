// Every answer in our error shape, nothing of the request reflected: protocol errors on a real
// socket, 404s, the 503 while shutting down, request ids, strict bodies.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import pino from 'pino';
import { Type } from '@sinclair/typebox';
import { InProcessBus } from '@repo/bus';
import { loggerOptions, parseEnv } from '@repo/runtime';
import { MemorySessionStore } from '@repo/stores';
import { buildGateway, GatewayEnv } from '../src/app.ts';
import { buildValidator } from '../src/http/body-validator.ts';

const SECRET_IN_QUERY = 'eyJhbGciOiJIUzI1NiJ9.secret-in-query.sig';
const logLines: string[] = [];

async function startGateway() {
  const settings = parseEnv(GatewayEnv, { RATE_LIMIT_PER_IP_PER_MINUTE: '100000' });
  const logger = pino(loggerOptions('test', 'trace'), { write: (line: string) => void logLines.push(line) });
  const app = await buildGateway({ settings, bus: new InProcessBus(500), sessions: new MemorySessionStore(), logger });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { app, port };
}

let gateway: Awaited<ReturnType<typeof startGateway>>;
beforeAll(async () => {
  gateway = await startGateway();
});
afterAll(async () => {
  await gateway.app.close();
});

interface RawAnswer {
  status: number;
  headers: string;
  body: unknown;
}

/** Writes raw bytes to the gateway and reads its answer until it closes the connection. */
function raw(port: number, bytes: string | Buffer, opts: { end?: boolean } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err) => (chunks.length ? undefined : reject(err)));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const bodyText = rest.join('\r\n\r\n');
      let body: unknown;
      try {
        body = JSON.parse(bodyText);
      } catch {
        body = bodyText;
      }
      resolve({ status, headers: head, body });
    });
    socket.write(bytes);
    if (opts.end) socket.end();
  });
}

const shaped = (status: number, code: string) => ({ statusCode: status, error: expect.any(String), code, message: expect.any(String) });

describe('protocol errors in our shape', () => {
  it('answers a request line that is not HTTP with 400 MALFORMED_REQUEST', async () => {
    const res = await raw(gateway.port, 'GARBAGE / NOT-HTTP\r\n\r\n');
    expect(res.status).toBe(400);
    expect(res.body).toEqual(shaped(400, 'MALFORMED_REQUEST'));
    expect(res.headers).toMatch(/content-type: application\/json/i);
  });

  it('answers a malformed header with 400 MALFORMED_REQUEST', async () => {
    const res = await raw(gateway.port, 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n');
    expect(res.body).toEqual(shaped(400, 'MALFORMED_REQUEST'));
  });

  it('answers bad chunking with 400 MALFORMED_REQUEST', async () => {
    const res = await raw(
      gateway.port,
      'POST /api/auth/send-verification HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n',
    );
    expect(res.body).toEqual(shaped(400, 'MALFORMED_REQUEST'));
  });

  it('answers both Content-Length and chunked (a smuggling attempt) with 400', async () => {
    const res = await raw(
      gateway.port,
      'POST /api/auth/send-verification HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(res.body).toEqual(shaped(400, 'MALFORMED_REQUEST'));
  });

  it('answers an HTTP/1.1 request without Host with 400 MALFORMED_REQUEST (Node alone sends an empty body)', async () => {
    const res = await raw(gateway.port, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(400);
    expect(res.body).toEqual(shaped(400, 'MALFORMED_REQUEST'));
    const http10 = await raw(gateway.port, 'GET /health HTTP/1.0\r\n\r\n');
    expect(http10.status).toBe(200);
  });

  it('answers oversized headers with 431 REQUEST_HEADERS_TOO_LARGE', async () => {
    const res = await raw(gateway.port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(res.body).toEqual(shaped(431, 'REQUEST_HEADERS_TOO_LARGE'));
  });

  it('answers a URL it cannot decode with 400 MALFORMED_REQUEST, without quoting it', async () => {
    const res = await fetch(`http://127.0.0.1:${gateway.port}/api/auth/%zz%E0`);
    const body = await res.json();
    expect(res.status).toBe(400);
    expect(body).toEqual(shaped(400, 'MALFORMED_REQUEST'));
    expect(JSON.stringify(body)).not.toContain('%zz');
  });
});

describe('404s reflect nothing', () => {
  it('does not echo the path or query, in the answer or in the log', async () => {
    logLines.length = 0;
    const res = await fetch(`http://127.0.0.1:${gateway.port}/api/nope/${SECRET_IN_QUERY}?token=${SECRET_IN_QUERY}`);
    const text = await res.text();
    expect(res.status).toBe(404);
    expect(JSON.parse(text)).toEqual(shaped(404, 'NOT_FOUND'));
    expect(text).not.toContain('secret-in-query');
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(`token=${SECRET_IN_QUERY}`);
  });

  it('logs a matched route by its path and route pattern, never its query string', async () => {
    logLines.length = 0;
    await fetch(`http://127.0.0.1:${gateway.port}/health?access_token=${SECRET_IN_QUERY}`);
    const lines = logLines.map((l) => JSON.parse(l) as { msg?: string; req?: { path?: string; route?: string }; res?: { statusCode?: number } });
    // One line per request, with what the request was and how it was answered.
    const logged = lines.filter((l) => l.req);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ msg: 'request completed', req: { path: '/health', route: '/health' }, res: { statusCode: 200 } });
    expect(logLines.join('\n')).not.toContain('secret-in-query');
  });

  it("writes the request's id on its line, and never its headers", async () => {
    logLines.length = 0;
    const res = await fetch(`http://127.0.0.1:${gateway.port}/api/auth/protected`, { headers: { authorization: `Bearer ${SECRET_IN_QUERY}.x.y`, 'x-request-id': 'trace-me-1' } });
    expect(res.status).toBe(401);
    const lines = logLines.map((l) => JSON.parse(l) as { msg?: string; reqId?: string; res?: { statusCode?: number } });
    expect(lines.filter((l) => l.msg === 'request completed')).toEqual([expect.objectContaining({ reqId: 'trace-me-1', res: { statusCode: 401 } })]);
    expect(logLines.join('\n')).not.toContain('secret-in-query');
  });
});

describe('x-request-id', () => {
  const idOf = async (value: string) => (await gateway.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': value } })).headers['x-request-id'];
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  it('keeps a short, safe id from the client', async () => {
    expect(await idOf('req-42_abc.DEF')).toBe('req-42_abc.DEF');
    expect(await idOf('a'.repeat(64))).toBe('a'.repeat(64));
  });

  it('is on every answer: refusals, unknown routes, bad bodies, URLs the router refuses', async () => {
    const answers = await Promise.all([
      gateway.app.inject({ method: 'GET', url: '/api/auth/protected', headers: { 'x-request-id': 'id-401', authorization: 'Bearer x.y.z' } }),
      gateway.app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'id-404' } }),
      gateway.app.inject({ method: 'POST', url: '/api/auth/send-verification', headers: { 'x-request-id': 'id-400' }, payload: { phone_number: 1 } }),
      gateway.app.inject({ method: 'GET', url: '/api/auth/%E0%A4%A', headers: { 'x-request-id': 'id-bad-url' } }),
    ]);
    expect(answers.map((r) => [r.statusCode, r.headers['x-request-id']])).toEqual([
      [401, 'id-401'],
      [404, 'id-404'],
      [400, 'id-400'],
      [400, 'id-bad-url'],
    ]);
  });

  it('replaces a long or odd one with a fresh UUID', async () => {
    for (const odd of ['a'.repeat(65), 'x y', '<script>', 'id\u00e9', '../../etc', 'a,b', '']) {
      expect(await idOf(odd), odd).toMatch(UUID);
    }
  });
});

describe('strict request bodies', () => {
  const send = (payload: unknown) => gateway.app.inject({ method: 'POST', url: '/api/auth/send-verification', payload: payload as object });

  it('does not coerce a number into the phone number string', async () => {
    const res = await send({ phone_number: 14155550000 });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual(shaped(400, 'VALIDATION_ERROR'));
  });

  it('refuses unknown properties instead of dropping them', async () => {
    const res = await send({ phone_number: '+14155552671', admin: true });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual(shaped(400, 'VALIDATION_ERROR'));
  });

  it('refuses an array, null or a boolean where an object or string is expected', async () => {
    for (const payload of [[], [{ phone_number: '+14155552671' }], { phone_number: null }, { phone_number: true }, { phone_number: ['+14155552671'] }]) {
      const res = await gateway.app.inject({ method: 'POST', url: '/api/auth/send-verification', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().code).toBe('VALIDATION_ERROR');
    }
  });

  it('still takes a refresh with no body at all (the token comes in the header)', async () => {
    const res = await gateway.app.inject({ method: 'POST', url: '/api/auth/refresh' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual(shaped(401, 'TOKEN_MISSING'));
  });

  it('still passes a valid body on (the missing auth-service makes it a 503, not a 400)', async () => {
    const res = await send({ phone_number: '+14155552671', channel: 'sms' });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('SERVICE_UNAVAILABLE');
  });
});

describe('the validator compiler', () => {
  it('coerces querystrings and params but takes bodies as sent', async () => {
    const app = Fastify({ schemaController: { compilersFactory: { buildValidator } } });
    app.post(
      '/things/:n',
      {
        schema: {
          params: Type.Object({ n: Type.Integer() }),
          querystring: Type.Object({ count: Type.Integer({ default: 10 }) }, { additionalProperties: false }),
          body: Type.Object({ count: Type.Integer() }, { additionalProperties: false }),
        },
      },
      async (request) => ({ params: request.params, query: request.query, body: request.body }),
    );
    const ok = await app.inject({ method: 'POST', url: '/things/7?count=3', payload: { count: 4 } });
    expect(ok.json()).toEqual({ params: { n: 7 }, query: { count: 3 }, body: { count: 4 } });
    const defaulted = await app.inject({ method: 'POST', url: '/things/7', payload: { count: 4 } });
    expect(defaulted.json().query).toEqual({ count: 10 });
    expect((await app.inject({ method: 'POST', url: '/things/7?count=3', payload: { count: '4' } })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/things/7?count=3', payload: { count: 4, extra: 1 } })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/things/x?count=3', payload: { count: 4 } })).statusCode).toBe(400);
    await app.close();
  });
});

describe('shutting down', () => {
  it('answers a request that arrives while closing with 503 in our shape, then closes', async () => {
    const { app, port } = await startGateway();
    // A connection in the middle of a request is not idle, so close() waits for it.
    const socket = connect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    const closing = app.close();
    await new Promise((r) => setTimeout(r, 50));
    socket.write('\r\n');
    await closed;
    await closing;
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text).toMatch(/^HTTP\/1\.1 503/);
    expect(JSON.parse(text.split('\r\n\r\n')[1] ?? '')).toEqual({ ...shaped(503, 'SERVICE_UNAVAILABLE'), retry_after: 1 });
  });
});
