import type { Redis } from 'ioredis';
import type { TokenPair } from '@repo/contracts';
import { ExpiringMap } from './expiring-map.ts';
import { keys } from './keys.ts';
import { guardRedis } from './redis-errors.ts';

/** What we know of the last code sent to a number: still open, or traded for tokens. */
export type LastCode = 'sent' | 'used';

/**
 * A check's hold on one code (a number and the hash of the code). `claimed`: this caller may ask
 * Twilio and issue tokens; `approved` says Twilio approved the code before (a retry after tokens
 * could not be issued: no need to ask again), `otherCodeKept` that a pair is kept for another
 * code of the number (see `issued`). `busy`: another check of this very code is running.
 * `issued`: tokens were issued for this code moments ago; here is the pair, and when.
 */
export type CodeClaim =
  | { state: 'claimed'; approved: boolean; otherCodeKept: boolean }
  | { state: 'busy' }
  | { state: 'issued'; pair: TokenPair; issuedAt: number };

/** The pair issued for a code, kept a short while for a retry whose first answer was lost. */
export interface IssuedPair {
  pair: TokenPair;
  /** Epoch ms, on the issuer's clock. */
  issuedAt: number;
  keepSeconds: number;
}

/**
 * Remembers which numbers were sent a code, and which codes Twilio approved. Twilio answers 20404
 * for "never sent", "expired" and "already used"; this record is what lets us tell the client
 * which one it was. An approval is kept until tokens were issued for it, so a code approved by
 * Twilio is not lost when token-service or Redis fails right after (the retry needs no Twilio).
 * One check of a code at a time holds its claim, from before Twilio is asked until tokens are
 * issued, so one code logs in once and a concurrent check of it is told so. The issued pair is
 * kept a few seconds, so a retry whose answer was lost on the way gets that same pair.
 */
export interface VerificationLog {
  recordSent(phone: string, ttlSeconds: number): Promise<void>;
  wasSent(phone: string): Promise<boolean>;
  lastCode(phone: string): Promise<LastCode | undefined>;
  clear(phone: string): Promise<void>;
  /**
   * Takes the claim on a code for `claimMs` (the time the caller has: a caller that died frees it
   * when its own caller has given up), unless it is held or its tokens were just issued.
   */
  claimCode(phone: string, codeHash: string, claimMs: number): Promise<CodeClaim>;
  /** Twilio approved the code (the caller holds its claim): kept for a retry if tokens cannot be issued. */
  recordApproval(phone: string, codeHash: string, ttlSeconds: number): Promise<void>;
  /** The check is over without tokens: the next check of the code may run (the approval, if any, stays). */
  releaseClaim(phone: string, codeHash: string): Promise<void>;
  /** Tokens were issued: the approval is spent, the number's last code is `used`, the pair kept for a retry. */
  markUsed(phone: string, codeHash: string, ttlSeconds: number, issued?: IssuedPair): Promise<void>;
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

// KEYS: the approval, the claim, the number's kept pair. ARGV: code hash, claim ms.
// Returns {'issued', kept} | {'claimed', approved 0/1, another code's pair kept 0/1} | {'busy'}.
const CLAIM_CODE = `
local kept = redis.call('GET', KEYS[3])
local other = 0
if kept then
  local sep = string.find(kept, '\\n', 1, true)
  if sep and string.sub(kept, 1, sep - 1) == ARGV[1] then return {'issued', string.sub(kept, sep + 1)} end
  other = 1
end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return {'claimed', redis.call('EXISTS', KEYS[1]), other} end
return {'busy'}
`;

// KEYS: the wrong-code count. Counts only for a code we know of, so the count keeps its TTL.
const RECORD_WRONG_CODE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
return 0
`;

/** The kept pair as stored: what a retry needs, nothing else. */
interface KeptPair {
  pair: TokenPair;
  issued_at: number;
}

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

  claimCode(phone: string, codeHash: string, claimMs: number): Promise<CodeClaim> {
    return guardRedis(async () => {
      const [state, first, second] = (await this.redis.eval(
        CLAIM_CODE,
        3,
        keys.verificationApproved(phone, codeHash),
        keys.verificationClaim(phone, codeHash),
        keys.verificationIssued(phone),
        codeHash,
        Math.max(1, Math.ceil(claimMs)),
      )) as [string, string | number | undefined, number | undefined];
      if (state === 'issued') {
        const kept = JSON.parse(String(first)) as KeptPair;
        return { state, pair: kept.pair, issuedAt: kept.issued_at };
      }
      if (state === 'claimed') return { state, approved: first === 1, otherCodeKept: second === 1 };
      return { state: 'busy' };
    });
  }

  recordApproval(phone: string, codeHash: string, ttlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      await this.redis.set(keys.verificationApproved(phone, codeHash), '1', 'EX', ttlSeconds);
    });
  }

  releaseClaim(phone: string, codeHash: string): Promise<void> {
    return guardRedis(async () => {
      await this.redis.del(keys.verificationClaim(phone, codeHash));
    });
  }

  markUsed(phone: string, codeHash: string, ttlSeconds: number, issued?: IssuedPair): Promise<void> {
    return guardRedis(async () => {
      const multi = this.redis
        .multi()
        .del(keys.verificationApproved(phone, codeHash), keys.verificationClaim(phone, codeHash))
        .set(keys.verificationSent(phone), USED, 'EX', ttlSeconds)
        .del(keys.verificationWrongCodes(phone));
      if (issued) {
        const kept: KeptPair = { pair: issued.pair, issued_at: issued.issuedAt };
        multi.set(keys.verificationIssued(phone), `${codeHash}\n${JSON.stringify(kept)}`, 'EX', issued.keepSeconds);
      }
      throwOnFailure(await multi.exec());
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
  private readonly kept: ExpiringMap<{ codeHash: string; pair: TokenPair; issuedAt: number }>;
  // An object, so that counting a wrong code keeps the entry's expiry.
  private readonly wrong: ExpiringMap<{ count: number }>;

  constructor(now: () => number = Date.now) {
    this.wrong = new ExpiringMap(now);
    this.sent = new ExpiringMap(now);
    this.approvals = new ExpiringMap(now);
    this.claims = new ExpiringMap(now);
    this.kept = new ExpiringMap(now);
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

  async claimCode(phone: string, codeHash: string, claimMs: number): Promise<CodeClaim> {
    const key = `${phone}:${codeHash}`;
    const kept = this.kept.get(phone);
    if (kept?.codeHash === codeHash) return { state: 'issued', pair: kept.pair, issuedAt: kept.issuedAt };
    if (this.claims.get(key) === true) return { state: 'busy' };
    this.claims.set(key, true, Math.max(1, Math.ceil(claimMs)) / 1000);
    return { state: 'claimed', approved: this.approvals.get(key) === true, otherCodeKept: kept !== undefined };
  }

  async recordApproval(phone: string, codeHash: string, ttlSeconds: number): Promise<void> {
    this.approvals.set(`${phone}:${codeHash}`, true, ttlSeconds);
  }

  async releaseClaim(phone: string, codeHash: string): Promise<void> {
    this.claims.delete(`${phone}:${codeHash}`);
  }

  async markUsed(phone: string, codeHash: string, ttlSeconds: number, issued?: IssuedPair): Promise<void> {
    this.approvals.delete(`${phone}:${codeHash}`);
    this.claims.delete(`${phone}:${codeHash}`);
    this.sent.set(phone, 'used', ttlSeconds);
    this.wrong.delete(phone);
    // Copied, as Redis would: a caller changing its object must not change what a retry gets.
    if (issued) this.kept.set(phone, { codeHash, pair: structuredClone(issued.pair), issuedAt: issued.issuedAt }, issued.keepSeconds);
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
