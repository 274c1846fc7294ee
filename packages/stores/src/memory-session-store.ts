import type { TokenPair } from '@repo/contracts';
import { ExpiringMap } from './expiring-map.ts';
import type { NewSession, RotateResult, SessionStore } from './session-store.ts';

interface MemorySession {
  sub: string;
  jti: string;
  /** microseconds, strictly increasing (see clockUs) */
  created: number;
}

/** The embedded default's session store, with the Redis store's semantics. */
export class MemorySessionStore implements SessionStore {
  private readonly sessions: ExpiringMap<MemorySession>;
  private readonly successors: ExpiringMap<{ parent: string; pair: TokenPair }>;
  private readonly revokedBefore: ExpiringMap<number>;
  private readonly bySubject = new Map<string, Set<string>>();
  private lastUs = 0;

  constructor(private readonly now: () => number = Date.now) {
    this.sessions = new ExpiringMap(now);
    this.successors = new ExpiringMap(now);
    this.revokedBefore = new ExpiringMap(now);
  }

  async createSession(session: NewSession, ttlSeconds: number): Promise<void> {
    this.sessions.set(session.sid, { sub: session.sub, jti: session.refreshJti, created: this.clockUs() }, ttlSeconds);
    const sids = this.bySubject.get(session.sub) ?? new Set<string>();
    // Pruned at every login, as in Redis: expired sessions leave the subject's set.
    for (const sid of sids) if (!this.sessions.get(sid)) sids.delete(sid);
    sids.add(session.sid);
    this.bySubject.set(session.sub, sids);
  }

  async rotateRefresh(presented: NewSession, next: { jti: string; pair: TokenPair }, ttlSeconds: number, reuseIntervalSeconds: number): Promise<RotateResult> {
    const session = this.live(presented.sid, presented.sub);
    if (!session) return { outcome: 'missing' };
    if (session.jti === presented.refreshJti) {
      this.sessions.set(presented.sid, { ...session, jti: next.jti }, ttlSeconds);
      if (reuseIntervalSeconds > 0) this.successors.set(presented.sid, { parent: presented.refreshJti, pair: structuredClone(next.pair) }, reuseIntervalSeconds);
      else this.successors.delete(presented.sid);
      return { outcome: 'rotated' };
    }
    const successor = this.successors.get(presented.sid);
    if (successor?.parent === presented.refreshJti) return { outcome: 'replayed', pair: structuredClone(successor.pair) };
    await this.revokeSession(presented.sid, presented.sub);
    return { outcome: 'reused' };
  }

  async revokeSession(sid: string, sub: string): Promise<void> {
    this.sessions.delete(sid);
    this.successors.delete(sid);
    const sids = this.bySubject.get(sub);
    sids?.delete(sid);
    if (sids?.size === 0) this.bySubject.delete(sub);
  }

  async revokeSubject(sub: string, ttlSeconds: number): Promise<number> {
    this.revokedBefore.set(sub, this.clockUs(), ttlSeconds);
    let ended = 0;
    for (const sid of this.bySubject.get(sub) ?? []) {
      if (this.sessions.get(sid)) ended += 1;
      this.sessions.delete(sid);
      this.successors.delete(sid);
    }
    this.bySubject.delete(sub);
    return ended;
  }

  async isSessionActive(sid: string, sub: string): Promise<boolean> {
    return this.live(sid, sub) !== undefined;
  }

  async ping(): Promise<void> {}

  private live(sid: string, sub: string): MemorySession | undefined {
    const session = this.sessions.get(sid);
    if (!session || session.sub !== sub) return undefined;
    const before = this.revokedBefore.get(sub);
    if (before !== undefined && session.created <= before) return undefined;
    return session;
  }

  private clockUs(): number {
    this.lastUs = Math.max(this.now() * 1000, this.lastUs + 1);
    return this.lastUs;
  }
}
