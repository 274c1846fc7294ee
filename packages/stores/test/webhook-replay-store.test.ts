import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { keys, MemoryWebhookReplayStore, RedisWebhookReplayStore, type WebhookReplayStore } from '../src/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `test:${randomUUID()}:`;
const redis = new Redis(REDIS_URL, { keyPrefix: prefix });
const otherReplica = new Redis(REDIS_URL, { keyPrefix: prefix });
const raw = new Redis(REDIS_URL);
afterAll(async () => {
  const left = await raw.keys(`${prefix}*`);
  if (left.length) await raw.del(...left);
  for (const client of [redis, otherReplica, raw]) client.disconnect();
});

const stores: Array<[string, () => WebhookReplayStore]> = [
  ['redis', () => new RedisWebhookReplayStore(redis)],
  ['memory', () => new MemoryWebhookReplayStore()],
];

describe.each(stores)('WebhookReplayStore (%s)', (_name, make) => {
  it('lets a token be claimed once, then refuses it', async () => {
    const store = make();
    const digest = randomUUID();
    expect(await store.claim(digest, 300)).toBe(true);
    expect(await store.claim(digest, 300)).toBe(false);
    expect(await store.claim(randomUUID(), 300)).toBe(true);
  });

  it('gives exactly one of many concurrent claims', async () => {
    const store = make();
    const digest = randomUUID();
    const results = await Promise.all(Array.from({ length: 20 }, () => store.claim(digest, 300)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('can claim a released token again', async () => {
    const store = make();
    const digest = randomUUID();
    await store.claim(digest, 300);
    await store.release(digest);
    expect(await store.claim(digest, 300)).toBe(true);
  });
});

describe('RedisWebhookReplayStore', () => {
  it('is shared by replicas and expires with the token', async () => {
    const digest = randomUUID();
    expect(await new RedisWebhookReplayStore(redis).claim(digest, 300)).toBe(true);
    expect(await new RedisWebhookReplayStore(otherReplica).claim(digest, 300)).toBe(false);
    const ttl = await raw.ttl(`${prefix}${keys.plaidWebhookSeen(digest)}`);
    expect(ttl).toBeGreaterThan(290);
    expect(ttl).toBeLessThanOrEqual(300);
  });
});

describe('MemoryWebhookReplayStore', () => {
  it('forgets a token once its time is over', async () => {
    let now = 1_000_000;
    const store = new MemoryWebhookReplayStore(() => now);
    expect(await store.claim('d', 300)).toBe(true);
    now += 299_000;
    expect(await store.claim('d', 300)).toBe(false);
    now += 2_000;
    expect(await store.claim('d', 300)).toBe(true);
  });
});
