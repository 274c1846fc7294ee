// The counters of the gateway's rate limits, shared by its replicas through Redis: the per-IP limit
// of every request counted locally and synced in batches (no Redis round trip per request), the
// routes' own limits (a few routes, low limits: codes per IP and per phone) counted exactly in
// Redis, all of a request's in one script.
import type { Redis } from 'ioredis';

// Adds n to a fixed window's counter, starting the window if there is none; answers the new
// total (every replica's) and the window's time left.
const ADD_SCRIPT = `local c = redis.call('INCRBY', KEYS[1], ARGV[1])
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  t = tonumber(ARGV[2])
end
return {c, t}`;

// The limits of one request, in order (KEYS; ARGV: max and window ms of each): counts each until
// one is over, so a request a limit refuses spends none of the limits after it. Answers 0, or the
// position of the refusing limit (from 1) and its window's time left.
const IN_ORDER_SCRIPT = `for i, key in ipairs(KEYS) do
  local c = redis.call('INCR', key)
  local t = redis.call('PTTL', key)
  if t < 0 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
    t = tonumber(ARGV[2 * i])
  end
  if c > tonumber(ARGV[2 * i - 1]) then return {i, t} end
end
return {0, 0}`;

type AddCommand = (key: string, n: number, windowMs: number) => Promise<[number, number]>;
type InOrderCommand = (...keysThenArgs: Array<string | number>) => Promise<[number, number]>;

/** One of a request's exact limits: its counter's key (namespaced by the caller), max and window. */
export interface ExactLimit {
  key: string;
  max: number;
  windowMs: number;
}

interface Counter {
  /** Every replica's count, as Redis last answered it (this replica's sent increments included). */
  synced: number;
  /** This replica's increments not yet in Redis. */
  pending: number;
  resetAt: number;
  windowMs: number;
}

export interface SharedCountersOptions {
  /** How often local counts go to Redis; the tolerance of the per-IP limit across replicas. */
  syncMs: number;
  /** Keys (client addresses) remembered at most; the oldest are dropped first. */
  maxKeys?: number;
  now?: () => number;
}

function defineAdd(redis: Redis): void {
  if (!(redis as unknown as Record<string, unknown>).rateLimitAdd) redis.defineCommand('rateLimitAdd', { numberOfKeys: 1, lua: ADD_SCRIPT });
}

/**
 * The per-IP counters: each request counts in memory at once and decides on every replica's
 * count as Redis last reported it plus this replica's own since. Every `syncMs` the increments
 * go to Redis in one pipeline. Across R replicas, a client can exceed its limit by what it sends
 * to the other replicas within one sync; one replica alone counts exactly. If Redis cannot be
 * reached the counts stay local (the limit holds per replica) and are sent once it is back.
 * Without Redis (the embedded mode) the counts are this process's alone.
 */
export class BatchedCounters {
  private readonly counters = new Map<string, Counter>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(
    private readonly redis: Redis | undefined,
    private readonly prefix: string,
    private readonly options: SharedCountersOptions,
  ) {
    if (redis) defineAdd(redis);
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  incr(key: string, windowMs: number): { current: number; ttl: number } {
    const now = this.now();
    let counter = this.counters.get(key);
    if (!counter || counter.resetAt <= now) {
      counter = { synced: 0, pending: 0, resetAt: now + windowMs, windowMs };
      this.counters.delete(key);
      this.counters.set(key, counter);
      if (this.counters.size > this.maxKeys) this.counters.delete(this.counters.keys().next().value!);
    }
    counter.pending += 1;
    if (this.redis) {
      this.dirty.add(key);
      this.timer ??= setTimeout(() => void this.flush(), this.options.syncMs).unref();
    }
    return { current: counter.synced + counter.pending, ttl: counter.resetAt - now };
  }

  /** Sends the pending increments (one pipeline); one flush at a time. */
  flush(): Promise<void> {
    this.timer = undefined;
    this.flushing ??= this.send().finally(() => {
      this.flushing = undefined;
      if (this.dirty.size > 0) this.timer ??= setTimeout(() => void this.flush(), this.options.syncMs).unref();
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.send();
  }

  private async send(): Promise<void> {
    const batch: Array<[string, Counter, number]> = [];
    for (const key of this.dirty) {
      const counter = this.counters.get(key);
      if (counter && counter.pending > 0) batch.push([key, counter, counter.pending]);
    }
    this.dirty.clear();
    if (batch.length === 0 || !this.redis) return;
    const pipeline = this.redis.pipeline() as unknown as { rateLimitAdd: AddCommand; exec(): Promise<Array<[Error | null, unknown]> | null> };
    for (const [key, counter, n] of batch) {
      counter.pending -= n;
      pipeline.rateLimitAdd(this.prefix + key, n, counter.windowMs);
    }
    const results = await pipeline.exec().catch(() => null);
    const now = this.now();
    batch.forEach(([key, counter, n], i) => {
      const [err, reply] = results?.[i] ?? [new Error('not sent'), null];
      if (err) {
        // Redis is away: keep counting here, send it later.
        counter.pending += n;
        if (this.counters.get(key) === counter) this.dirty.add(key);
        return;
      }
      const [count, ttl] = reply as [number, number];
      counter.synced = count;
      counter.resetAt = now + ttl;
    });
  }
}

/**
 * The routes' own limits (`limitBy`: rare routes, low limits), counted exactly in Redis: a
 * request's limits in order, in one round trip. Answers the first that refuses it (its index and
 * the ms left of its window), or undefined.
 */
export function exactLimits(redis: Redis, namespace: string): (limits: ExactLimit[]) => Promise<{ index: number; ttlMs: number } | undefined> {
  if (!(redis as unknown as Record<string, unknown>).rateLimitInOrder) redis.defineCommand('rateLimitInOrder', { lua: IN_ORDER_SCRIPT });
  const inOrder = (redis as unknown as { rateLimitInOrder: InOrderCommand }).rateLimitInOrder.bind(redis);
  return async (limits) => {
    const [position, ttlMs] = await inOrder(limits.length, ...limits.map((l) => namespace + l.key), ...limits.flatMap((l) => [l.max, l.windowMs]));
    return position === 0 ? undefined : { index: position - 1, ttlMs };
  };
}
