import type { Redis } from 'ioredis';
import type { TokenPair } from '@repo/contracts';
import { keys } from './keys.ts';
import { guardRedis, throwOnMultiError } from './redis-errors.ts';
import type { NewSession, RotateResult, SessionStore } from './session-store.ts';

// Redis TIME in microseconds, as a 16-digit string (Lua numbers would print in exponent form).
const NOW_US = `local t = redis.call('TIME')
local now = t[1] .. string.format('%06d', tonumber(t[2]))`;

// A session counts only if it exists, is the subject's, and was created after its revoked-before.
const LIVE = `local function live(s, revokedBefore, sub)
  if not s[1] or s[1] ~= sub then return false end
  if revokedBefore and tonumber(s[2]) <= tonumber(revokedBefore) then return false end
  return true
end`;

const CREATE_SCRIPT = `${NOW_US}
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'created', now, 'jti', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[3], 'GT')
redis.call('EXPIRE', KEYS[2], ARGV[3], 'NX')
return 1`;

const IS_ACTIVE_SCRIPT = `${LIVE}
local s = redis.call('HMGET', KEYS[1], 'sub', 'created')
if live(s, redis.call('GET', KEYS[2]), ARGV[1]) then return 1 end
return 0`;

// KEYS: session, successor, revoked-before, subject's session set.
// ARGV: sub, presented jti, next jti, next pair (JSON), ttl s, reuse interval ms, sid.
const ROTATE_SCRIPT = `${LIVE}
local s = redis.call('HMGET', KEYS[1], 'sub', 'created', 'jti')
if not live(s, redis.call('GET', KEYS[3]), ARGV[1]) then return {'missing'} end
if s[3] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'jti', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[4], ARGV[5], 'GT')
  if tonumber(ARGV[6]) > 0 then
    redis.call('SET', KEYS[2], ARGV[2] .. '\\n' .. ARGV[4], 'PX', ARGV[6])
  else
    redis.call('DEL', KEYS[2])
  end
  return {'rotated'}
end
local successor = redis.call('GET', KEYS[2])
if successor then
  local sep = string.find(successor, '\\n', 1, true)
  if sep and string.sub(successor, 1, sep - 1) == ARGV[2] then return {'replayed', string.sub(successor, sep + 1)} end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[4], ARGV[7])
return {'reused'}`;

// KEYS: revoked-before, subject's session set, then each listed session and its successor.
// ARGV: ttl s, then the listed sids.
const REVOKE_SUBJECT_SCRIPT = `${NOW_US}
redis.call('SET', KEYS[1], now, 'EX', ARGV[1])
local ended = 0
for i = 3, #KEYS, 2 do
  ended = ended + redis.call('DEL', KEYS[i])
  redis.call('DEL', KEYS[i + 1])
end
for i = 2, #ARGV do redis.call('SREM', KEYS[2], ARGV[i]) end
return ended`;

export class RedisSessionStore implements SessionStore {
  constructor(private readonly redis: Redis) {}

  createSession(session: NewSession, ttlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      await this.redis.eval(CREATE_SCRIPT, 2, keys.session(session.sid), keys.subjectSessions(session.sub), session.sub, session.refreshJti, ttlSeconds, session.sid);
    });
  }

  rotateRefresh(presented: NewSession, next: { jti: string; pair: TokenPair }, ttlSeconds: number, reuseIntervalSeconds: number): Promise<RotateResult> {
    return guardRedis(async () => {
      const [outcome, pair] = (await this.redis.eval(
        ROTATE_SCRIPT,
        4,
        keys.session(presented.sid),
        keys.refreshSuccessor(presented.sid),
        keys.revokedBefore(presented.sub),
        keys.subjectSessions(presented.sub),
        presented.sub,
        presented.refreshJti,
        next.jti,
        JSON.stringify(next.pair),
        ttlSeconds,
        Math.round(reuseIntervalSeconds * 1000),
        presented.sid,
      )) as [RotateResult['outcome'], string | undefined];
      if (outcome === 'replayed') return { outcome, pair: JSON.parse(pair!) as TokenPair };
      return { outcome };
    });
  }

  revokeSession(sid: string, sub: string): Promise<void> {
    return guardRedis(async () => {
      await this.redis
        .multi()
        .del(keys.session(sid), keys.refreshSuccessor(sid))
        .srem(keys.subjectSessions(sub), sid)
        .exec()
        .then(throwOnMultiError);
    });
  }

  revokeSubject(sub: string, ttlSeconds: number): Promise<number> {
    return guardRedis(async () => {
      const sids = await this.redis.smembers(keys.subjectSessions(sub));
      const sessionKeys = sids.flatMap((sid) => [keys.session(sid), keys.refreshSuccessor(sid)]);
      const ended = await this.redis.eval(
        REVOKE_SUBJECT_SCRIPT,
        2 + sessionKeys.length,
        keys.revokedBefore(sub),
        keys.subjectSessions(sub),
        ...sessionKeys,
        ttlSeconds,
        ...sids,
      );
      return Number(ended);
    });
  }

  isSessionActive(sid: string, sub: string): Promise<boolean> {
    return guardRedis(async () => (await this.redis.eval(IS_ACTIVE_SCRIPT, 2, keys.session(sid), keys.revokedBefore(sub), sub)) === 1);
  }

  ping(): Promise<void> {
    return guardRedis(async () => {
      await this.redis.ping();
    });
  }
}
