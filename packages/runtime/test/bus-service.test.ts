import { Type } from '@sinclair/typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { defineEndpoint } from '@repo/contracts';
import { handle, InProcessBus } from '@repo/bus';
import { buildBusService } from '../src/bus-service.ts';

const slow = defineEndpoint('runtime-test.slow.call', Type.Object({ ms: Type.Integer() }), Type.Object({ done: Type.Literal(true) }));
const apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe('buildBusService', () => {
  it('answers /ready in our error shape when the bus is not usable', async () => {
    const bus = new InProcessBus();
    const app = buildBusService({ name: 'svc', bus, handlers: [] });
    apps.push(app);
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    bus.announceShutdown();
    const res = await app.inject({ method: 'GET', url: '/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE', message: expect.stringMatching(/^Not ready: /), retry_after: 1 });
  });

  it('answers /ready within a second when a dependency hangs', async () => {
    const app = buildBusService({ name: 'svc', bus: new InProcessBus(), handlers: [], readiness: [() => new Promise<void>(() => undefined)] });
    apps.push(app);
    const started = Date.now();
    const res = await app.inject({ method: 'GET', url: '/ready' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ statusCode: 503, code: 'SERVICE_UNAVAILABLE' });
  });

  it('answers unknown routes with NOT_FOUND in our shape', async () => {
    const app = buildBusService({ name: 'svc', bus: new InProcessBus(), handlers: [] });
    apps.push(app);
    const res = await app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
  });

  it('on close, finishes the bus requests it is handling and takes no new ones', async () => {
    const bus = new InProcessBus();
    const app = buildBusService({
      name: 'svc',
      bus,
      handlers: [handle(slow, async ({ ms }) => new Promise((resolve) => setTimeout(() => resolve({ done: true as const }), ms)))],
    });
    await app.ready();
    const inFlight = bus.request(slow, { ms: 500 });
    await new Promise((r) => setTimeout(r, 50));
    const closing = app.close();
    await expect(inFlight).resolves.toEqual({ done: true });
    await closing;
    await expect(bus.request(slow, { ms: 0 })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });
});
