// The gateway's one line per request: written straight to pino's stream, it must be the line pino
// itself would write, and go through pino whenever the logger does more than plain pino.
import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import pino, { type LoggerOptions } from 'pino';
import { loggerOptions } from '@repo/runtime';
import { requestLogger } from '../src/http/request-log.ts';

const apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** A Fastify app logging into an array with requestLogger, as the gateway's app does. */
async function appLoggingTo(options: LoggerOptions) {
  const lines: string[] = [];
  const app = Fastify({ loggerInstance: pino(options, { write: (line: string) => void lines.push(line) }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  app.addHook('onResponse', requestLogger(app.log));
  app.get('/things/:id', async () => ({ ok: true }));
  apps.push(app);
  await app.ready();
  return { app, lines };
}

// Fixed, so two lines written at different moments compare equal.
const fixedTime = () => ',"time":1700000000000';

describe('requestLogger', () => {
  it("writes exactly pino's line for the request's fields", async () => {
    const { app, lines } = await appLoggingTo({ ...loggerOptions('gateway', 'info'), timestamp: fixedTime });
    await app.inject({ method: 'GET', url: '/things/42?access_token=secret', headers: { 'x-request-id': 'req-1' } });
    await app.inject({ method: 'POST', url: '/nowhere', headers: { 'x-request-id': 'req-2' } });
    expect(lines).toHaveLength(2);
    const [found, missing] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    // Only the trace id and the time taken are not known beforehand.
    for (const line of [found!, missing!]) {
      expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(typeof line.responseTime).toBe('number');
    }
    const fields = [
      { reqId: 'req-1', trace_id: found!.trace_id, req: { method: 'GET', path: '/things/42', route: '/things/:id', remoteAddress: '127.0.0.1' }, res: { statusCode: 200 }, responseTime: found!.responseTime },
      // A request no route matched has no route.
      { reqId: 'req-2', trace_id: missing!.trace_id, req: { method: 'POST', path: '/nowhere', remoteAddress: '127.0.0.1' }, res: { statusCode: 404 }, responseTime: missing!.responseTime },
    ];
    expect(lines.join('')).not.toContain('secret');

    // pino's own lines for those fields, from a logger like the hook's.
    const viaPino: string[] = [];
    const same = pino({ ...loggerOptions('gateway', 'info'), timestamp: fixedTime }, { write: (line: string) => void viaPino.push(line) });
    for (const line of fields) same.child({}, { redact: { paths: [] } }).info(line, 'request completed');
    expect(lines).toEqual(viaPino);
  });

  it('goes through pino when the logger adds fields of its own (a mixin), or is not pino', async () => {
    const { app, lines } = await appLoggingTo({ ...loggerOptions('gateway', 'info'), mixin: () => ({ region: 'eu-1' }) });
    await app.inject({ method: 'GET', url: '/things/1' });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ region: 'eu-1', req: { path: '/things/1' }, msg: 'request completed' });

    // Fastify's logger: false: nothing to write to, and nothing fails.
    const quiet = Fastify({ logger: false });
    quiet.addHook('onResponse', requestLogger(quiet.log));
    quiet.get('/x', async () => 'x');
    apps.push(quiet);
    expect((await quiet.inject({ method: 'GET', url: '/x' })).statusCode).toBe(200);
  });

  it('writes nothing at a level above info', async () => {
    const { app, lines } = await appLoggingTo(loggerOptions('gateway', 'warn'));
    await app.inject({ method: 'GET', url: '/things/1' });
    expect(lines).toHaveLength(0);
  });
});
