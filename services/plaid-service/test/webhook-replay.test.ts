// Replayed webhooks across replicas: two plaid-service replicas (each on its own bus) share Redis;
// the Plaid emulator signs real deliveries, captured by a receiver on loopback and sent again.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '@repo/bus';
import { PlaidSubjects } from '@repo/contracts';
import { startPlaidEmulator, type StartedPlaidEmulator } from '@repo/plaid-emulator';
import { createRedis, parseEnv, waitForRedis } from '@repo/runtime';
import { RedisPlaidStore, RedisWebhookReplayStore } from '@repo/stores';
import { buildPlaidService, EMULATOR_CREDENTIALS, PlaidEnv, resolvePlaidSettings } from '../src/app.ts';
import { callPlaid, createPlaidClient } from '../src/plaid-client.ts';
import { WebhookVerifier } from '../src/webhook-verifier.ts';
import { eventually } from '@repo/test-support';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const quiet = { warn: () => undefined, info: () => undefined };
const USER = '+14155552671';

interface Delivery {
  body: string;
  verification: string;
}

/** Keeps every webhook it receives, as sent. */
async function receiver(): Promise<{ url: string; received: Delivery[]; server: Server }> {
  const received: Delivery[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      received.push({ body, verification: String(req.headers['plaid-verification'] ?? '') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`, received, server };
}

const prefix = `test:${randomUUID()}:`;
let emulator: StartedPlaidEmulator;
let hooks: Awaited<ReturnType<typeof receiver>>;
const clients: Array<ReturnType<typeof createRedis>> = [];
const closers: Array<() => Promise<unknown>> = [];

async function replica() {
  const redis = createRedis(REDIS_URL, prefix, quiet);
  clients.push(redis);
  await waitForRedis(redis);
  const settings = resolvePlaidSettings(parseEnv(PlaidEnv, { PLAID_BASE_URL: emulator.url, PLAID_WEBHOOK_URL: hooks.url, PLAID_SIGNUP_WAIT_MS: '0' }));
  const bus = new InProcessBus(10_000);
  const service = await buildPlaidService({ settings, bus, store: new RedisPlaidStore(redis), webhookReplays: new RedisWebhookReplayStore(redis) });
  await service.ready();
  closers.push(() => service.close(), () => bus.close());
  return { bus, settings, redis };
}

beforeAll(async () => {
  emulator = await startPlaidEmulator({ ...EMULATOR_CREDENTIALS, productNotReadyMs: 0 });
  hooks = await receiver();
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  const raw = createRedis(REDIS_URL, '', quiet);
  await waitForRedis(raw);
  const left = await raw.keys(`${prefix}*`);
  if (left.length) await raw.del(...left);
  raw.disconnect();
  for (const client of clients) client.disconnect();
  hooks.server.close();
  await emulator.close();
});

describe('replayed Plaid webhooks', () => {
  it('acts on a delivery once: the same token again, on any replica, is answered but ignored', async () => {
    const a = await replica();
    const b = await replica();
    const { public_token } = await a.bus.request(PlaidSubjects.createSandboxPublicToken, { user: USER });
    const { item_id } = await a.bus.request(PlaidSubjects.exchangePublicToken, { user: USER, public_token });

    const fired = await fetch(`${emulator.url}/_emulator/items/${item_id}/fire-webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ webhook_code: 'SYNC_UPDATES_AVAILABLE' }),
    });
    expect(fired.status).toBe(200);
    // The emulator answers first and delivers after, as Plaid does.
    const delivery = await eventually('the fired webhook', () => hooks.received.find((d) => d.body.includes(item_id)));
    expect(delivery.verification).toMatch(/^ey/);

    expect(await a.bus.request(PlaidSubjects.receiveWebhook, delivery)).toEqual({ received: true, action: 'synced' });
    expect(await a.bus.request(PlaidSubjects.receiveWebhook, delivery)).toEqual({ received: true, action: 'ignored' });
    expect(await b.bus.request(PlaidSubjects.receiveWebhook, delivery)).toEqual({ received: true, action: 'ignored' });

    // A tampered body with the same token is still a forgery, not a replay.
    await expect(b.bus.request(PlaidSubjects.receiveWebhook, { ...delivery, body: delivery.body.replace('SYNC', 'SYNX') })).rejects.toMatchObject({
      code: 'WEBHOOK_VERIFICATION_FAILED',
    });
  });

  it('asks the Plaid emulator once for its key and once for a forged kid, however often they come', async () => {
    const { settings, redis } = await replica();
    const plaid = createPlaidClient(settings);
    const asked: string[] = [];
    const verifier = new WebhookVerifier(
      async (kid) => {
        asked.push(kid);
        return (await callPlaid({ timeoutMs: settings.timeoutMs }, (options) => plaid.webhookVerificationKeyGet({ key_id: kid }, options))).key;
      },
      { replays: new RedisWebhookReplayStore(redis) },
    );
    const delivery = hooks.received.at(-1);
    expect(delivery).toBeDefined();
    if (!delivery) return;
    const [head, payload, signature] = delivery.verification.split('.');
    const header = JSON.parse(Buffer.from(head ?? '', 'base64url').toString('utf8')) as { kid: string };
    const forged = `${Buffer.from(JSON.stringify({ ...header, kid: 'forged-kid' })).toString('base64url')}.${payload}.${signature}`;

    for (let i = 0; i < 5; i++) {
      await expect(verifier.verify(delivery.body, forged)).rejects.toMatchObject({ code: 'WEBHOOK_VERIFICATION_FAILED' });
    }
    // Already used by the first test's replicas (shared Redis): verified, and known as a replay.
    expect(await verifier.verify(delivery.body, delivery.verification)).toEqual({ replayed: true });
    expect(await verifier.verify(delivery.body, delivery.verification)).toEqual({ replayed: true });
    expect(asked).toEqual(['forged-kid', header.kid]);
  });
});
