import type { Redis } from 'ioredis';
import { ExpiringMap } from './expiring-map.ts';
import { keys } from './keys.ts';
import { guardRedis } from './redis-errors.ts';

/**
 * Remembers which numbers were sent a code. Twilio answers 20404 both for "never sent" and for
 * "expired"; this record is what lets us tell the client which one it was.
 */
export interface VerificationLog {
  recordSent(phone: string, ttlSeconds: number): Promise<void>;
  wasSent(phone: string): Promise<boolean>;
  clear(phone: string): Promise<void>;
}

export class RedisVerificationLog implements VerificationLog {
  constructor(private readonly redis: Redis) {}

  recordSent(phone: string, ttlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      await this.redis.set(keys.verificationSent(phone), String(Date.now()), 'EX', ttlSeconds);
    });
  }

  wasSent(phone: string): Promise<boolean> {
    return guardRedis(async () => (await this.redis.exists(keys.verificationSent(phone))) === 1);
  }

  clear(phone: string): Promise<void> {
    return guardRedis(async () => {
      await this.redis.del(keys.verificationSent(phone));
    });
  }
}

export class MemoryVerificationLog implements VerificationLog {
  private readonly sent: ExpiringMap<true>;

  constructor(now: () => number = Date.now) {
    this.sent = new ExpiringMap(now);
  }

  async recordSent(phone: string, ttlSeconds: number): Promise<void> {
    this.sent.set(phone, true, ttlSeconds);
  }

  async wasSent(phone: string): Promise<boolean> {
    return this.sent.get(phone) === true;
  }

  async clear(phone: string): Promise<void> {
    this.sent.delete(phone);
  }
}
