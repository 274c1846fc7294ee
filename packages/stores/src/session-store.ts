import type { TokenPair } from '@repo/contracts';

export interface NewSession {
  sid: string;
  sub: string;
  /** Id of the one refresh token that may be used next. */
  refreshJti: string;
}

/**
 * What a refresh did: `rotated` (the presented token was current; `next` is now), `replayed` (the
 * presented token is the one rotated just before, within the reuse interval: here is the same
 * successor pair again), `reused` (a spent token: the session is now revoked) or `missing` (no
 * such live session: logged out, expired, or its data was lost).
 */
export type RotateResult = { outcome: 'rotated' } | { outcome: 'replayed'; pair: TokenPair } | { outcome: 'reused' } | { outcome: 'missing' };

/**
 * What the gateway needs of sessions: the check of every protected request, and readiness. A
 * reader that keeps a copy (RedisSessionMirror) is told of the ends this process caused itself.
 */
export interface SessionReader {
  /** The session exists, belongs to `sub` and was not ended by a logout-all. */
  isSessionActive(sid: string, sub: string): Promise<boolean>;
  /** What `isSessionActive` would answer, if known without asking anyone; undefined otherwise. */
  knownSessionState?(sid: string, sub: string): boolean | undefined;
  /** Resolves when the store can answer (readiness probes). */
  ping(): Promise<void>;
  /** This process just ended the session (logout): refuse it from now on. */
  sessionEnded?(sid: string): void;
  /** This process just ended every session of `sub` (logout-all). */
  subjectRevoked?(sub: string): void;
}

/**
 * Sessions, one per login. A token is accepted only while its session is known to the store, so
 * a store that lost its data logs people out instead of letting revoked tokens back in. Logout
 * deletes the session; logout-all also records a per-number "revoked before" time that ends
 * every session created earlier, whatever the TTLs. The gateway only reads `isSessionActive`;
 * token-service owns the writes. Times come from the store's clock (Redis TIME), so replicas with
 * skewed clocks agree.
 */
export interface SessionStore extends SessionReader {
  createSession(session: NewSession, ttlSeconds: number): Promise<void>;
  /**
   * Atomically swaps the session's refresh token id for `next.jti` if `presented.refreshJti` is
   * the current one, keeping `next.pair` for `reuseIntervalSeconds` so that the same token
   * presented again (a retry, a second tab) gets the same pair back. Any other reuse revokes.
   */
  rotateRefresh(presented: NewSession, next: { jti: string; pair: TokenPair }, ttlSeconds: number, reuseIntervalSeconds: number): Promise<RotateResult>;
  revokeSession(sid: string, sub: string): Promise<void>;
  /**
   * Ends every session of the subject created until now, including ones the store no longer lists;
   * `ttlSeconds` must outlive every token already issued. Returns how many listed sessions ended.
   */
  revokeSubject(sub: string, ttlSeconds: number): Promise<number>;
}
