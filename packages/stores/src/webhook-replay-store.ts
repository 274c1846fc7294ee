import type { Redis } from 'ioredis';
import { ExpiringMap } from './expiring-map.ts';
import { keys } from './keys.ts';
import { guardRedis } from './redis-errors.ts';

/**
 * Remembers the webhooks already acted on, by a digest of their signed token, for as long as that
 * token is valid: a replay is seen as one by every replica.
 */
export interface WebhookReplayStore {
  /** Records the token; false if it was already recorded and has not expired. Atomic. */
  claim(tokenDigest: string, ttlSeconds: number): Promise<boolean>;
  /** Forgets a claim, so a delivery that failed can be processed when it comes again. */
  release(tokenDigest: string): Promise<void>;
}

export class RedisWebhookReplayStore implements WebhookReplayStore {
  constructor(private readonly redis: Redis) {}

  claim(tokenDigest: string, ttlSeconds: number): Promise<boolean> {
    return guardRedis(async () => (await this.redis.set(keys.plaidWebhookSeen(tokenDigest), '1', 'EX', ttlSeconds, 'NX')) === 'OK');
  }

  release(tokenDigest: string): Promise<void> {
    return guardRedis(async () => {
      await this.redis.del(keys.plaidWebhookSeen(tokenDigest));
    });
  }
}

/** For the embedded default: one process, so one map is every replica. */
export class MemoryWebhookReplayStore implements WebhookReplayStore {
  private readonly seen: ExpiringMap<true>;

  constructor(now: () => number = Date.now) {
    this.seen = new ExpiringMap(now);
  }

  async claim(tokenDigest: string, ttlSeconds: number): Promise<boolean> {
    if (this.seen.get(tokenDigest)) return false;
    this.seen.set(tokenDigest, true, ttlSeconds);
    return true;
  }

  async release(tokenDigest: string): Promise<void> {
    this.seen.delete(tokenDigest);
  }
}
