import type { Redis } from 'ioredis';
import { AppError, type TokenPair } from '@repo/contracts';
import { keys } from './keys.ts';
import { guardRedis, throwOnMultiError } from './redis-errors.ts';
import { defineScript, type RedisScript } from './redis-script.ts';
import type { NewSession, RotateResult, SessionStore } from './session-store.ts';

// Redis TIME in microseconds, as a 16-digit string (Lua numbers would print in exponent form),
// and in milliseconds as a number (the scores of the subject's session set).
const NOW_US = `local t = redis.call('TIME')
local now = t[1] .. string.format('%06d', tonumber(t[2]))
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// A session counts only if it exists, is the subject's, and was created after its revoked-before.
const LIVE = `local function live(s, revokedBefore, sub)
  if not s[1] or s[1] ~= sub then return false end
  if revokedBefore and tonumber(s[2]) <= tonumber(revokedBefore) then return false end
  return true
end`;

// The subject's sessions are a sorted set scored by expiry, pruned of expired ones at every login,
// so it lists only sessions that may still be live and cannot grow without bound.
const CREATE_SCRIPT = `${NOW_US}
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'created', now, 'jti', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', nowMs)
redis.call('ZADD', KEYS[2], nowMs + tonumber(ARGV[3]) * 1000, ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[3], 'GT')
redis.call('EXPIRE', KEYS[2], ARGV[3], 'NX')
return 1`;

// The session's remaining lifetime in ms if it is live, else 0 (callers may cache a live answer that long).
const SESSION_STATE_SCRIPT = `${LIVE}
local s = redis.call('HMGET', KEYS[1], 'sub', 'created')
if not live(s, redis.call('GET', KEYS[2]), ARGV[1]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 1 then return 1 end
return ttl`;

// KEYS: session, successor, revoked-before, subject's session set.
// ARGV: sub, presented jti, next jti, next pair (JSON), ttl s, reuse interval ms, sid, events channel.
const ROTATE_SCRIPT = `${NOW_US}
${LIVE}
local s = redis.call('HMGET', KEYS[1], 'sub', 'created', 'jti')
if not live(s, redis.call('GET', KEYS[3]), ARGV[1]) then return {'missing'} end
if s[3] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'jti', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('ZADD', KEYS[4], 'XX', nowMs + tonumber(ARGV[5]) * 1000, ARGV[7])
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
redis.call('ZREM', KEYS[4], ARGV[7])
redis.call('PUBLISH', ARGV[8], 's:' .. ARGV[7])
return {'reused'}`;

// KEYS: revoked-before, subject's session set, then each listed session and its successor.
// ARGV: ttl s, events channel, sub, then the listed sids.
const REVOKE_SUBJECT_SCRIPT = `${NOW_US}
redis.call('SET', KEYS[1], now, 'EX', ARGV[1])
local ended = 0
for i = 3, #KEYS, 2 do
  ended = ended + redis.call('DEL', KEYS[i])
  redis.call('DEL', KEYS[i + 1])
end
for i = 4, #ARGV do redis.call('ZREM', KEYS[2], ARGV[i]) end
redis.call('PUBLISH', ARGV[2], 'u:' .. ARGV[3])
return ended`;

/** What the session check learned: live (and for how long at most), or not. */
export interface SessionState {
  active: boolean;
  /** Remaining lifetime of a live session, in ms. */
  ttlMs: number;
}

/** The channel on which session ends are announced (see RedisSessionMirror), in the client's namespace. */
export function sessionEventsChannel(redis: Redis): string {
  return `${redis.options.keyPrefix ?? ''}sessions:events`;
}

export interface SessionStoreDurability {
  /**
   * Replicas that must have a session end (logout, logout-all, a reused refresh token) before it
   * is acknowledged: Redis WAIT after the write. 0 (default): acknowledged once the primary has it.
   */
  waitReplicas?: number;
  /** How long WAIT waits for them, in ms. */
  waitTimeoutMs?: number;
  log?: { error(obj: object, msg: string): void };
}

export class RedisSessionStore implements SessionStore {
  private readonly channel: string;
  private readonly create: RedisScript;
  private readonly rotate: RedisScript;
  private readonly revokeAll: RedisScript;
  private readonly state: RedisScript;

  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  /**
   * The connection of the writes that may end a session (rotate, logout, logout-all) and of their
   * WAIT. WAIT holds its connection until the replicas answer (up to the timeout), so with
   * waitReplicas it is a connection of its own: logins and session checks never queue behind it.
   */
  private readonly ends: Redis;

  constructor(
    private readonly redis: Redis,
    private readonly durability: SessionStoreDurability = {},
  ) {
    this.waitReplicas = durability.waitReplicas ?? 0;
    this.waitTimeoutMs = durability.waitTimeoutMs ?? 500;
    this.ends = this.waitReplicas > 0 ? redis.duplicate() : redis;
    // Outages are reported by the main client already; without a listener ioredis would print them.
    if (this.ends !== redis) this.ends.on('error', () => undefined);
    this.channel = sessionEventsChannel(redis);
    this.create = defineScript(redis, 'sessionCreate', 2, CREATE_SCRIPT);
    this.rotate = defineScript(this.ends, 'sessionRotate', 4, ROTATE_SCRIPT);
    this.revokeAll = defineScript(this.ends, 'sessionRevokeSubject', undefined, REVOKE_SUBJECT_SCRIPT);
    this.state = defineScript(redis, 'sessionState', 2, SESSION_STATE_SCRIPT);
  }

  createSession(session: NewSession, ttlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      await this.create(keys.session(session.sid), keys.subjectSessions(session.sub), session.sub, session.refreshJti, ttlSeconds, session.sid);
    });
  }

  rotateRefresh(presented: NewSession, next: { jti: string; pair: TokenPair }, ttlSeconds: number, reuseIntervalSeconds: number): Promise<RotateResult> {
    return guardRedis(async () => {
      const [outcome, pair] = (await this.rotate(
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
        this.channel,
      )) as [RotateResult['outcome'], string | undefined];
      if (outcome === 'replayed') return { outcome, pair: JSON.parse(pair!) as TokenPair };
      if (outcome === 'reused') await this.replicated('refresh token reuse');
      return { outcome };
    });
  }

  revokeSession(sid: string, sub: string): Promise<void> {
    return guardRedis(async () => {
      await this.ends
        .multi()
        .del(keys.session(sid), keys.refreshSuccessor(sid))
        .zrem(keys.subjectSessions(sub), sid)
        .publish(this.channel, `s:${sid}`)
        .exec()
        .then(throwOnMultiError);
      await this.replicated('logout');
    });
  }

  revokeSubject(sub: string, ttlSeconds: number): Promise<number> {
    return guardRedis(async () => {
      const sids = await this.ends.zrange(keys.subjectSessions(sub), 0, -1);
      const sessionKeys = sids.flatMap((sid) => [keys.session(sid), keys.refreshSuccessor(sid)]);
      const ended = await this.revokeAll(2 + sessionKeys.length, keys.revokedBefore(sub), keys.subjectSessions(sub), ...sessionKeys, ttlSeconds, this.channel, sub, ...sids);
      await this.replicated('logout-all');
      return Number(ended);
    });
  }

  /**
   * After a session end: WAIT until enough replicas have it (the same connection, so every write
   * before it counts). Fewer within the timeout means a failover now could bring the session back:
   * the end is not acknowledged (503, the client retries; ending a session again is harmless).
   */
  private async replicated(what: string): Promise<void> {
    if (this.waitReplicas <= 0) return;
    const acked = Number(await this.ends.wait(this.waitReplicas, this.waitTimeoutMs));
    if (acked >= this.waitReplicas) return;
    this.durability.log?.error(
      { what, replicas: acked, wanted: this.waitReplicas, timeoutMs: this.waitTimeoutMs },
      `${what} written on the Redis primary but not confirmed by enough replicas: not durable, answered 503`,
    );
    throw new AppError('STORE_UNAVAILABLE', 'The session end was not confirmed by a Redis replica; try again shortly', { retryAfter: 1 });
  }

  async isSessionActive(sid: string, sub: string): Promise<boolean> {
    return (await this.sessionState(sid, sub)).active;
  }

  /** The session check, with how long a live answer stays true at most (the session's TTL). */
  sessionState(sid: string, sub: string): Promise<SessionState> {
    return guardRedis(async () => {
      const ttlMs = Number(await this.state(keys.session(sid), keys.revokedBefore(sub), sub));
      return { active: ttlMs > 0, ttlMs };
    });
  }

  /** Closes the connection of session ends, if it has one of its own (waitReplicas); not the client it was given. */
  close(): void {
    if (this.ends !== this.redis) this.ends.disconnect();
  }

  ping(): Promise<void> {
    return guardRedis(async () => {
      await this.redis.ping();
    });
  }
}
