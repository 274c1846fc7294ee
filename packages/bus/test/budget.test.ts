// Deadlines, budgets, idempotent retries and graceful stops, the same on both transports.
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineEndpoint } from '@repo/contracts';
import { DEADLINE_MARGIN_MS, handle, handlerDeadline, InProcessBus, NatsBus, type Bus, type BusLogger, type HandlerContext } from '../src/index.ts';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const silent: BusLogger = { info() {}, warn() {}, error() {}, child: () => silent };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function suite(name: string, makeBus: () => Promise<Bus>) {
  describe(name, () => {
    const run = randomUUID().slice(0, 8);
    const outer = defineEndpoint(`budget${run}.outer.call`, Type.Object({ waitMs: Type.Integer() }), Type.Object({ outerDeadline: Type.Number(), innerDeadline: Type.Number(), reqId: Type.String() }));
    const inner = defineEndpoint(`budget${run}.inner.call`, Type.Object({}), Type.Object({ deadline: Type.Number(), reqId: Type.String() }));
    const flaky = defineEndpoint(`budget${run}.flaky.call`, Type.Object({ key: Type.String() }), Type.Object({ attempt: Type.Integer() }));
    const slow = defineEndpoint(`budget${run}.slow.call`, Type.Object({ ms: Type.Integer() }), Type.Object({ done: Type.Literal(true) }));
    const lateRetry = defineEndpoint(`budget${run}.late.call`, Type.Object({ key: Type.String() }), Type.Object({ deadline: Type.Number() }));
    const deadlines = defineEndpoint(`budget${run}.deadlines.call`, Type.Object({}), Type.Object({ ctx: Type.Number(), other: Type.Number() }));
    let bus: Bus;
    let innerRuns = 0;
    let slowStarted = 0;
    const attempts = new Map<string, number>();

    beforeAll(async () => {
      bus = await makeBus();
      await bus.serve({ name: `budget-outer-${run}`, version: '1.0.0', log: silent }, [
        handle(outer, async ({ waitMs }, ctx: HandlerContext) => {
          await sleep(waitMs);
          // No options: the deadline and request id come from the handler's context.
          const reply = await bus.request(inner, {});
          return { outerDeadline: ctx.deadline, innerDeadline: reply.deadline, reqId: reply.reqId };
        }),
      ]);
      await bus.serve({ name: `budget-inner-${run}`, version: '1.0.0', log: silent }, [
        handle(deadlines, async (_payload, ctx) => {
          // After an await, as a handler's HTTP call would be.
          await sleep(1);
          return { ctx: ctx.deadline, other: handlerDeadline() ?? -1 };
        }),
        handle(inner, async (_payload, ctx) => {
          innerRuns++;
          return { deadline: ctx.deadline, reqId: ctx.requestId ?? '' };
        }),
        // Like flaky, and tells the second attempt's deadline.
        handle(lateRetry, async ({ key }, ctx) => {
          const n = (attempts.get(key) ?? 0) + 1;
          attempts.set(key, n);
          if (n === 1) await sleep(60_000);
          return { deadline: ctx.deadline };
        }),
        // The first attempt of each key never answers, like a request routed to a replica that died.
        handle(flaky, async ({ key }) => {
          const n = (attempts.get(key) ?? 0) + 1;
          attempts.set(key, n);
          if (n === 1) await sleep(60_000);
          return { attempt: n };
        }),
      ]);
    });
    afterAll(async () => {
      await bus.close();
    });

    it('gives an inner request the time its handler has left, minus a margin, and the same request id', async () => {
      const started = Date.now();
      const reply = await bus.request(outer, { waitMs: 0 }, { timeoutMs: 3_000, requestId: 'req-deadline' });
      expect(reply.outerDeadline).toBeGreaterThanOrEqual(started + 3_000 - 50);
      expect(reply.outerDeadline).toBeLessThanOrEqual(Date.now() + 3_000);
      expect(reply.innerDeadline).toBeLessThanOrEqual(reply.outerDeadline - DEADLINE_MARGIN_MS);
      expect(reply.innerDeadline).toBeGreaterThan(reply.outerDeadline - 2_000);
      expect(reply.reqId).toBe('req-deadline');
    });

    it("tells a handler's other calls (an HTTP API) when it must be done: its deadline minus the margin", async () => {
      const reply = await bus.request(deadlines, {}, { timeoutMs: 3_000 });
      expect(reply.other).toBe(reply.ctx - DEADLINE_MARGIN_MS);
      expect(handlerDeadline()).toBeUndefined();
    });

    it('does not send an inner request once the handler has no time left', async () => {
      const before = innerRuns;
      const started = Date.now();
      await expect(bus.request(outer, { waitMs: 400 }, { timeoutMs: 450 })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', statusCode: 503 });
      expect(Date.now() - started).toBeLessThan(1_500);
      await sleep(300);
      expect(innerRuns).toBe(before);
    });

    it('retries an idempotent request that got no answer, within its budget', async () => {
      const started = Date.now();
      const reply = await bus.request(flaky, { key: `idem-${run}` }, { idempotent: true, attemptTimeoutMs: 300, timeoutMs: 5_000 });
      expect(reply.attempt).toBe(2);
      expect(Date.now() - started).toBeLessThan(2_500);
    });

    it('retries within retryWithinMs only: the retry ends with that window, and no room for one means one attempt', async () => {
      const within = await bus.request(flaky, { key: `window-${run}` }, { idempotent: true, attemptTimeoutMs: 300, retryWithinMs: 3_000, timeoutMs: 5_000 });
      expect(within.attempt).toBe(2);
      // The first attempt (300 ms) fills the window (200 ms): sent once, with the whole budget.
      const started = Date.now();
      await expect(bus.request(flaky, { key: `no-room-${run}` }, { idempotent: true, attemptTimeoutMs: 300, retryWithinMs: 200, timeoutMs: 800 })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(750);
      expect(attempts.get(`no-room-${run}`)).toBe(1);
    });

    it("gives the retry a deadline at the end of retryWithinMs, so a handler reached later does not run it", async () => {
      const started = Date.now();
      const reply = await bus.request(lateRetry, { key: `late-${run}` }, { idempotent: true, attemptTimeoutMs: 300, retryWithinMs: 1_000, timeoutMs: 5_000 });
      expect(reply.deadline).toBeLessThanOrEqual(started + 1_000 + 50);
    });

    it('does not retry a request that is not idempotent: it fails when its budget is spent', async () => {
      const started = Date.now();
      await expect(bus.request(flaky, { key: `once-${run}` }, { timeoutMs: 500 })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfter: 1 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(attempts.get(`once-${run}`)).toBe(1);
    });

    it('stops taking requests on stop but answers those it is handling', async () => {
      const service = await bus.serve({ name: `budget-slow-${run}`, version: '1.0.0', log: silent }, [
        handle(slow, async ({ ms }) => {
          slowStarted++;
          await sleep(ms);
          return { done: true as const };
        }),
      ]);
      const inFlight = bus.request(slow, { ms: 700 }, { timeoutMs: 5_000 });
      while (slowStarted === 0) await sleep(10);
      const stopping = service.stop();
      const stopStarted = Date.now();
      await expect(inFlight).resolves.toEqual({ done: true });
      await stopping;
      expect(Date.now() - stopStarted).toBeGreaterThanOrEqual(200);
      await expect(bus.request(slow, { ms: 0 }, { timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    });

    it('turns readiness off on announceShutdown while requests still work', async () => {
      const other = await makeBus();
      await other.ping();
      other.announceShutdown();
      await expect(other.ping()).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      await other.close();
    });
  });
}

suite('InProcessBus', async () => new InProcessBus());
suite('NatsBus on the real NATS', () => NatsBus.connect({ url: NATS_URL, name: 'budget-test', log: silent }));
