import type { Redis } from 'ioredis';
import { ExpiringMap } from './expiring-map.ts';
import { keys } from './keys.ts';
import { guardRedis } from './redis-errors.ts';

/** What we know of the last code sent to a number: still open, or traded for tokens. */
export type LastCode = 'sent' | 'used';

/**
 * Remembers which numbers were sent a code, and which codes Twilio approved. Twilio answers 20404
 * for "never sent", "expired" and "already used"; this record is what lets us tell the client
 * which one it was. An approval is kept until tokens were issued for it, so a code approved by
 * Twilio is not lost when token-service or Redis fails right after (the retry needs no Twilio).
 */
export interface VerificationLog {
  recordSent(phone: string, ttlSeconds: number): Promise<void>;
  wasSent(phone: string): Promise<boolean>;
  lastCode(phone: string): Promise<LastCode | undefined>;
  clear(phone: string): Promise<void>;
  /** Twilio approved the code whose hash this is; tokens are not issued yet. */
  recordApproval(phone: string, codeHash: string, ttlSeconds: number): Promise<void>;
  hasApproval(phone: string, codeHash: string): Promise<boolean>;
  /** Tokens were issued: the approval is spent and the number's last code is `used`. */
  markUsed(phone: string, codeHash: string, ttlSeconds: number): Promise<void>;
}

const USED = 'used';

export class RedisVerificationLog implements VerificationLog {
  constructor(private readonly redis: Redis) {}

  recordSent(phone: string, ttlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      await this.redis.set(keys.verificationSent(phone), 'sent', 'EX', ttlSeconds);
    });
  }

  wasSent(phone: string): Promise<boolean> {
    return guardRedis(async () => (await this.redis.exists(keys.verificationSent(phone))) === 1);
  }

  lastCode(phone: string): Promise<LastCode | undefined> {
    return guardRedis(async () => {
      const value = await this.redis.get(keys.verificationSent(phone));
      if (value === null) return undefined;
      return value === USED ? 'used' : 'sent';
    });
  }

  clear(phone: string): Promise<void> {
    return guardRedis(async () => {
      await this.redis.del(keys.verificationSent(phone));
    });
  }

  recordApproval(phone: string, codeHash: string, ttlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      await this.redis.set(keys.verificationApproved(phone, codeHash), '1', 'EX', ttlSeconds);
    });
  }

  hasApproval(phone: string, codeHash: string): Promise<boolean> {
    return guardRedis(async () => (await this.redis.exists(keys.verificationApproved(phone, codeHash))) === 1);
  }

  markUsed(phone: string, codeHash: string, ttlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      const results = await this.redis
        .multi()
        .del(keys.verificationApproved(phone, codeHash))
        .set(keys.verificationSent(phone), USED, 'EX', ttlSeconds)
        .exec();
      const failed = results?.find(([err]) => err !== null)?.[0];
      if (failed) throw failed;
    });
  }
}

export class MemoryVerificationLog implements VerificationLog {
  private readonly sent: ExpiringMap<LastCode>;
  private readonly approvals: ExpiringMap<true>;

  constructor(now: () => number = Date.now) {
    this.sent = new ExpiringMap(now);
    this.approvals = new ExpiringMap(now);
  }

  async recordSent(phone: string, ttlSeconds: number): Promise<void> {
    this.sent.set(phone, 'sent', ttlSeconds);
  }

  async wasSent(phone: string): Promise<boolean> {
    return this.sent.get(phone) !== undefined;
  }

  async lastCode(phone: string): Promise<LastCode | undefined> {
    return this.sent.get(phone);
  }

  async clear(phone: string): Promise<void> {
    this.sent.delete(phone);
  }

  async recordApproval(phone: string, codeHash: string, ttlSeconds: number): Promise<void> {
    this.approvals.set(`${phone}:${codeHash}`, true, ttlSeconds);
  }

  async hasApproval(phone: string, codeHash: string): Promise<boolean> {
    return this.approvals.get(`${phone}:${codeHash}`) === true;
  }

  async markUsed(phone: string, codeHash: string, ttlSeconds: number): Promise<void> {
    this.approvals.delete(`${phone}:${codeHash}`);
    this.sent.set(phone, 'used', ttlSeconds);
  }
}
