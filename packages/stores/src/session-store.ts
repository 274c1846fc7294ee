import type { Redis } from 'ioredis';
import { ExpiringMap } from './expiring-map.ts';
import { keys } from './keys.ts';
import { guardRedis } from './redis-errors.ts';

export type RotateOutcome = 'rotated' | 'reused' | 'missing';

export interface NewSession {
  sid: string;
  sub: string;
  refreshJti: string;
}

/**
 * Sessions (one per login, holding the current refresh token id) and their revocations. The
 * gateway only reads `isSessionRevoked`; token-service owns the writes.
 */
export interface SessionStore {
  createSession(session: NewSession, ttlSeconds: number): Promise<void>;
  /**
   * Atomically swaps the session's refresh token id if `presentedJti` is the current one. A
   * presented id that is not current means a rotated token was replayed: the session is revoked.
   */
  rotateRefresh(session: NewSession, nextJti: string, ttlSeconds: number, revokeTtlSeconds: number): Promise<RotateOutcome>;
  revokeSession(sid: string, sub: string, revokeTtlSeconds: number): Promise<void>;
  /** Revokes every live session of the subject; returns how many. */
  revokeSubject(sub: string, revokeTtlSeconds: number): Promise<number>;
  isSessionRevoked(sid: string): Promise<boolean>;
  /** Resolves when the store can answer (readiness probes). */
  ping(): Promise<void>;
}

const ROTATE_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 'missing' end
local current = redis.call('HGET', KEYS[1], 'jti')
if not current then return 'missing' end
if current ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
  redis.call('SREM', KEYS[3], ARGV[5])
  return 'reused'
end
redis.call('HSET', KEYS[1], 'jti', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3], 'GT')
return 'rotated'
`;

export class RedisSessionStore implements SessionStore {
  constructor(private readonly redis: Redis) {}

  createSession(session: NewSession, ttlSeconds: number): Promise<void> {
    const setKey = keys.subjectSessions(session.sub);
    return guardRedis(async () => {
      await this.redis
        .multi()
        .hset(keys.session(session.sid), { sub: session.sub, jti: session.refreshJti })
        .expire(keys.session(session.sid), ttlSeconds)
        .sadd(setKey, session.sid)
        // The set lives as long as its longest session.
        .expire(setKey, ttlSeconds, 'GT')
        .expire(setKey, ttlSeconds, 'NX')
        .exec()
        .then(throwOnMultiError);
    });
  }

  rotateRefresh(session: NewSession, nextJti: string, ttlSeconds: number, revokeTtlSeconds: number): Promise<RotateOutcome> {
    return guardRedis(async () => {
      const outcome = await this.redis.eval(
        ROTATE_SCRIPT,
        3,
        keys.session(session.sid),
        keys.revokedSession(session.sid),
        keys.subjectSessions(session.sub),
        session.refreshJti,
        nextJti,
        ttlSeconds,
        revokeTtlSeconds,
        session.sid,
      );
      return outcome as RotateOutcome;
    });
  }

  revokeSession(sid: string, sub: string, revokeTtlSeconds: number): Promise<void> {
    return guardRedis(async () => {
      await this.redis
        .multi()
        .set(keys.revokedSession(sid), '1', 'EX', revokeTtlSeconds)
        .del(keys.session(sid))
        .srem(keys.subjectSessions(sub), sid)
        .exec()
        .then(throwOnMultiError);
    });
  }

  revokeSubject(sub: string, revokeTtlSeconds: number): Promise<number> {
    return guardRedis(async () => {
      const sids = await this.redis.smembers(keys.subjectSessions(sub));
      if (sids.length === 0) return 0;
      const tx = this.redis.multi();
      for (const sid of sids) tx.set(keys.revokedSession(sid), '1', 'EX', revokeTtlSeconds).del(keys.session(sid));
      // Only the sessions seen above: a login racing this call keeps its new session.
      tx.srem(keys.subjectSessions(sub), ...sids);
      await tx.exec().then(throwOnMultiError);
      return sids.length;
    });
  }

  isSessionRevoked(sid: string): Promise<boolean> {
    return guardRedis(async () => (await this.redis.exists(keys.revokedSession(sid))) === 1);
  }

  ping(): Promise<void> {
    return guardRedis(async () => {
      await this.redis.ping();
    });
  }
}

function throwOnMultiError(results: Array<[Error | null, unknown]> | null): void {
  if (!results) throw new Error('Redis transaction was aborted');
  const failed = results.find(([err]) => err);
  if (failed?.[0]) throw failed[0];
}

export class MemorySessionStore implements SessionStore {
  private readonly sessions: ExpiringMap<{ sub: string; jti: string }>;
  private readonly revoked: ExpiringMap<true>;
  private readonly bySubject = new Map<string, Set<string>>();

  constructor(now: () => number = Date.now) {
    this.sessions = new ExpiringMap(now);
    this.revoked = new ExpiringMap(now);
  }

  async createSession(session: NewSession, ttlSeconds: number): Promise<void> {
    this.sessions.set(session.sid, { sub: session.sub, jti: session.refreshJti }, ttlSeconds);
    const sids = this.bySubject.get(session.sub) ?? new Set<string>();
    sids.add(session.sid);
    this.bySubject.set(session.sub, sids);
  }

  async rotateRefresh(session: NewSession, nextJti: string, ttlSeconds: number, revokeTtlSeconds: number): Promise<RotateOutcome> {
    if (this.revoked.get(session.sid)) return 'missing';
    const current = this.sessions.get(session.sid);
    if (!current) return 'missing';
    if (current.jti !== session.refreshJti) {
      await this.revokeSession(session.sid, session.sub, revokeTtlSeconds);
      return 'reused';
    }
    this.sessions.set(session.sid, { sub: current.sub, jti: nextJti }, ttlSeconds);
    return 'rotated';
  }

  async revokeSession(sid: string, sub: string, revokeTtlSeconds: number): Promise<void> {
    this.revoked.set(sid, true, revokeTtlSeconds);
    this.sessions.delete(sid);
    this.bySubject.get(sub)?.delete(sid);
  }

  async revokeSubject(sub: string, revokeTtlSeconds: number): Promise<number> {
    const sids = [...(this.bySubject.get(sub) ?? [])].filter((sid) => this.sessions.get(sid));
    for (const sid of sids) await this.revokeSession(sid, sub, revokeTtlSeconds);
    this.bySubject.delete(sub);
    return sids.length;
  }

  async isSessionRevoked(sid: string): Promise<boolean> {
    return this.revoked.get(sid) === true;
  }

  async ping(): Promise<void> {}
}
