import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { guardRedis } from './redis-errors.ts';
import { clockHour, toSeconds } from './clock-hour.ts';
import type { CheckReservation, GuessPolicy, SendPolicy, SendReservation, VerificationLimits } from './verification-limits.ts';

// KEYS: last send to the number, this hour's send count. ARGV: min interval ms, hourly budget,
// ms left in the hour. Returns {0} when counted, {1, ms} too soon, {2, ms} budget spent.
const RESERVE_SEND = `
local wait = redis.call('PTTL', KEYS[1])
if wait > 0 then return {1, wait} end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used >= tonumber(ARGV[2]) then return {2, tonumber(ARGV[3])} end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) + 60000)
if tonumber(ARGV[1]) > 0 then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return {0, 0}
`;

// Decrements a counter that still exists (DECR on a missing key would create one without a TTL).
const RELEASE_SEND = `
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0
`;

// KEYS: the number's check counter. ARGV: max wrong codes, window ms. Returns {1} when counted,
// {0, ms} when the number is locked (the refused check is not counted).
const RESERVE_CHECK = `
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return {0, redis.call('PTTL', KEYS[1])}
end
return {1, 0}
`;

const RELEASE_CHECK = `
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
`;

/** Verification limits shared by every auth-service replica; each operation is one Lua script. */
export class RedisVerificationLimits implements VerificationLimits {
  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {}

  reserveSend(phone: string, policy: SendPolicy): Promise<SendReservation> {
    return guardRedis(async () => {
      const { hour, msLeft } = clockHour(this.now());
      const [outcome, ms] = (await this.redis.eval(
        RESERVE_SEND,
        2,
        keys.smsLastSent(phone),
        keys.smsSentInHour(hour),
        policy.minIntervalSeconds * 1000,
        policy.hourlyBudget,
        msLeft,
      )) as [number, number];
      if (outcome === 0) return { allowed: true, hour };
      return { allowed: false, limit: outcome === 1 ? 'min-interval' : 'hourly-budget', retryAfterSeconds: toSeconds(ms) };
    });
  }

  releaseSend(phone: string, hour: number): Promise<void> {
    return guardRedis(async () => {
      await this.redis.eval(RELEASE_SEND, 2, keys.smsLastSent(phone), keys.smsSentInHour(hour));
    });
  }

  reserveCheck(phone: string, policy: GuessPolicy): Promise<CheckReservation> {
    return guardRedis(async () => {
      const [allowed, ms] = (await this.redis.eval(RESERVE_CHECK, 1, keys.verificationChecks(phone), policy.maxWrongCodes, policy.windowSeconds * 1000)) as [
        number,
        number,
      ];
      return allowed === 1 ? { allowed: true } : { allowed: false, retryAfterSeconds: toSeconds(ms) };
    });
  }

  releaseCheck(phone: string): Promise<void> {
    return guardRedis(async () => {
      await this.redis.eval(RELEASE_CHECK, 1, keys.verificationChecks(phone));
    });
  }

  resetChecks(phone: string): Promise<void> {
    return guardRedis(async () => {
      await this.redis.del(keys.verificationChecks(phone));
    });
  }
}
