import type { Redis } from 'ioredis';
import { ExpiringMap } from './expiring-map.ts';
import { keys } from './keys.ts';
import { guardRedis } from './redis-errors.ts';

/** What we know of the last code sent to a number: still open, or traded for tokens. */
export type LastCode = 'sent' | 'used';

/** `claimed`: this caller may issue tokens for the approval; `busy`: another one is doing it. */
export type ApprovalClaim = 'claimed' | 'busy' | 'none';

// How long a caller may take to issue tokens for an approval before another may try: longer than a
// token issue can take, short enough that a crashed caller does not hold up the user's retry long.
export const APPROVAL_CLAIM_SECONDS = 30;

/**
 * Remembers which numbers were sent a code, and which codes Twilio approved. Twilio answers 20404
 * for "never sent", "expired" and "already used"; this record is what lets us tell the client
 * which one it was. An approval is kept until tokens were issued for it, so a code approved by
 * Twilio is not lost when token-service or Redis fails right after (the retry needs no Twilio).
 * Whoever issues tokens for an approval holds its claim first, so one code logs in once.
 */
export interface VerificationLog {
  recordSent(phone: string, ttlSeconds: number): Promise<void>;
  wasSent(phone: string): Promise<boolean>;
  lastCode(phone: string): Promise<LastCode | undefined>;
  clear(phone: string): Promise<void>;
  /** Twilio approved the code whose hash this is; the caller holds the claim to issue its tokens. */
  recordApproval(phone: string, codeHash: string, ttlSeconds: number): Promise<void>;
  /** Takes the claim on a recorded approval (a retry after tokens could not be issued). */
  claimApproval(phone: string, codeHash: string): Promise<ApprovalClaim>;
  /** Tokens could not be issued: the approval stays, for the user's retry to claim. */
  releaseApproval(phone: string, codeHash: string): Promise<void>;
  /** Tokens were issued: the approval is spent and the number's last code is `used`. */
  markUsed(phone: string, codeHash: string, ttlSeconds: number): Promise<void>;
  /**
   * Twilio started a new verification (not a resend of a pending one): its wrong codes start at 0
   * and are remembered as long as the code lives. Twilio deletes a verification after too many
   * wrong codes and then answers 20404, like for an expired one; this count tells them apart.
   */
  startCode(phone: string, codeTtlSeconds: number): Promise<void>;
  /** Twilio answered a wrong code for the number's current code (nothing when none is known). */
  recordWrongCode(phone: string): Promise<void>;
  /** Wrong codes answered for the number's current code. */
  wrongCodes(phone: string): Promise<number>;
}

const USED = 'used';

// KEYS: the approval, its claim. Returns 'claimed', 'busy' or 'none'.
const CLAIM_APPROVAL = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'none' end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 'claimed' end
return 'busy'
`;

// KEYS: the wrong-code count. Counts only for a code we know of, so the count keeps its TTL.
const RECORD_WRONG_CODE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
return 0
`;

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
      const results = await this.redis
        .multi()
        .set(keys.verificationApproved(phone, codeHash), '1', 'EX', ttlSeconds)
        .set(keys.verificationApprovalClaim(phone, codeHash), '1', 'EX', APPROVAL_CLAIM_SECONDS)
        .exec();
      throwOnFailure(results);
    });
  }

  claimApproval(phone: string, codeHash: string): Promise<ApprovalClaim> {
    return guardRedis(
      async () =>
        (await this.redis.eval(
          CLAIM_APPROVAL,
          2,
          keys.verificationApproved(phone, codeHash),
          keys.verificationApprovalClaim(phone, codeHash),
          APPROVAL_CLAIM_SECONDS,
        )) as ApprovalClaim,
    );
  }

  releaseApproval(phone: string, codeHash: string): Promise<void> {
    return guardRedis(async () => {
      await this.redis.del(keys.verificationApprovalClaim(phone, codeHash));
    });
  }

  markUsed(phone: string, codeHash: string, ttlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      const results = await this.redis
        .multi()
        .del(keys.verificationApproved(phone, codeHash), keys.verificationApprovalClaim(phone, codeHash))
        .set(keys.verificationSent(phone), USED, 'EX', ttlSeconds)
        .del(keys.verificationWrongCodes(phone))
        .exec();
      throwOnFailure(results);
    });
  }

  startCode(phone: string, codeTtlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      await this.redis.set(keys.verificationWrongCodes(phone), 0, 'EX', codeTtlSeconds);
    });
  }

  recordWrongCode(phone: string): Promise<void> {
    return guardRedis(async () => {
      await this.redis.eval(RECORD_WRONG_CODE, 1, keys.verificationWrongCodes(phone));
    });
  }

  wrongCodes(phone: string): Promise<number> {
    return guardRedis(async () => Number((await this.redis.get(keys.verificationWrongCodes(phone))) ?? 0));
  }
}

function throwOnFailure(results: Array<[Error | null, unknown]> | null): void {
  if (!results) throw new Error('Redis transaction was aborted');
  const failed = results.find(([err]) => err !== null)?.[0];
  if (failed) throw failed;
}

export class MemoryVerificationLog implements VerificationLog {
  private readonly sent: ExpiringMap<LastCode>;
  private readonly approvals: ExpiringMap<true>;
  private readonly claims: ExpiringMap<true>;
  // An object, so that counting a wrong code keeps the entry's expiry.
  private readonly wrong: ExpiringMap<{ count: number }>;

  constructor(now: () => number = Date.now) {
    this.wrong = new ExpiringMap(now);
    this.sent = new ExpiringMap(now);
    this.approvals = new ExpiringMap(now);
    this.claims = new ExpiringMap(now);
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
    this.claims.set(`${phone}:${codeHash}`, true, APPROVAL_CLAIM_SECONDS);
  }

  async claimApproval(phone: string, codeHash: string): Promise<ApprovalClaim> {
    const key = `${phone}:${codeHash}`;
    if (this.approvals.get(key) !== true) return 'none';
    if (this.claims.get(key) === true) return 'busy';
    this.claims.set(key, true, APPROVAL_CLAIM_SECONDS);
    return 'claimed';
  }

  async releaseApproval(phone: string, codeHash: string): Promise<void> {
    this.claims.delete(`${phone}:${codeHash}`);
  }

  async markUsed(phone: string, codeHash: string, ttlSeconds: number): Promise<void> {
    this.approvals.delete(`${phone}:${codeHash}`);
    this.claims.delete(`${phone}:${codeHash}`);
    this.sent.set(phone, 'used', ttlSeconds);
    this.wrong.delete(phone);
  }

  async startCode(phone: string, codeTtlSeconds: number): Promise<void> {
    this.wrong.set(phone, { count: 0 }, codeTtlSeconds);
  }

  async recordWrongCode(phone: string): Promise<void> {
    const entry = this.wrong.get(phone);
    if (entry) entry.count += 1;
  }

  async wrongCodes(phone: string): Promise<number> {
    return this.wrong.get(phone)?.count ?? 0;
  }
}
