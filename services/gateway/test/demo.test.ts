import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '@repo/bus';
import { MemorySessionStore } from '@repo/stores';
import { buildGateway, type GatewaySettings } from '../src/app.ts';
import { testSettings } from './test-settings.ts';


const apps: Array<{ close(): Promise<unknown> }> = [];
afterAll(async () => {
  for (const app of apps) await app.close();
});
async function gateway(settings: Partial<GatewaySettings> = {}, twilioOutboxUrl?: string) {
  const bus = new InProcessBus(2_000);
  const app = await buildGateway({ settings: { ...testSettings, ...settings }, bus, sessions: new MemorySessionStore(), ...(twilioOutboxUrl ? { twilioOutboxUrl } : {}) });
  apps.push(app, bus);
  return app;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the demo page', () => {
  it('is served at /demo and /demo/ with its script and style, under a CSP that allows nothing inline or foreign', async () => {
    const app = await gateway();
    for (const url of ['/demo', '/demo/']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toContain('<script type="module" src="/demo/demo.js"></script>');
      expect(res.body).not.toMatch(/<script>|\son[a-z]+="/);
      expect(res.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'; style-src 'self';.*connect-src 'self'/);
    }
    const js = await app.inject({ method: 'GET', url: '/demo/demo.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toContain('/api/auth/verify-code');
    const css = await app.inject({ method: 'GET', url: '/demo/demo.css' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await app.inject({ method: 'GET', url: '/demo/../package.json' })).statusCode).toBe(404);
  });

  it('is left out of the OpenAPI document', async () => {
    const app = await gateway();
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/demo'))).toEqual([]);
  });

  it('is off when NODE_ENV=production, and DEMO_PAGE overrides either way', async () => {
    expect((await (await gateway({ NODE_ENV: 'production' })).inject({ method: 'GET', url: '/demo' })).statusCode).toBe(404);
    expect((await (await gateway({ NODE_ENV: 'production', DEMO_PAGE: true })).inject({ method: 'GET', url: '/demo' })).statusCode).toBe(200);
    const off = await gateway({ DEMO_PAGE: false });
    expect((await off.inject({ method: 'GET', url: '/demo' })).statusCode).toBe(404);
    expect((await off.inject({ method: 'GET', url: '/demo/config.json' })).statusCode).toBe(404);
  });

  it('has no outbox without the Twilio emulator: config.json says so and /demo/outbox does not exist', async () => {
    const app = await gateway();
    const config = await app.inject({ method: 'GET', url: '/demo/config.json' });
    expect(config.json()).toEqual({ outbox_url: null });
    expect((await app.inject({ method: 'GET', url: '/demo/outbox?to=%2B14155552671' })).statusCode).toBe(404);
  });

  it('with the emulator, answers a fast 503 when its outbox does not answer, and 400 for a bad number', async () => {
    const app = await gateway({}, `http://127.0.0.1:${await closedPort()}/outbox`);
    expect((await app.inject({ method: 'GET', url: '/demo/config.json' })).json()).toEqual({ outbox_url: '/demo/outbox' });
    const started = performance.now();
    const res = await app.inject({ method: 'GET', url: '/demo/outbox?to=%2B14155552671' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: 'The Twilio emulator outbox did not answer' });
    expect(performance.now() - started).toBeLessThan(3_500);
    const bad = await app.inject({ method: 'GET', url: '/demo/outbox?to=javascript:alert(1)' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_ERROR');
  });
});
