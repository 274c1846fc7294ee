import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { guardRedis } from './redis-errors.ts';
import { defineScript, type RedisScript } from './redis-script.ts';
import { RedisSessionStore, sessionEventsChannel } from './redis-session-store.ts';
import type { SessionReader } from './session-store.ts';

export interface SessionMirrorOptions {
  /** Sessions remembered at most (oldest forgotten first). */
  maxEntries?: number;
  /** How often each mirror sends a heartbeat through the events channel. */
  heartbeatMs?: number;
  /** Out of sync when no heartbeat came back for this long. */
  staleAfterMs?: number;
  /** A live answer is trusted this long at most, whatever the session's TTL. */
  maxAgeMs?: number;
  now?: () => number;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface SessionMirrorState {
  inSync: boolean;
  entries: number;
  hits: number;
  misses: number;
}

interface Entry {
  sub: string;
  active: boolean;
  /** For a live answer: when to ask Redis again. */
  until: number;
}

// Every heartbeat carries the namespace's epoch: a random value set once and never expiring. A
// Redis that lost its data (restart without persistence, FLUSHALL, a failover to an empty replica)
// has lost it too, so the next heartbeat brings a new one and every mirror forgets what it knew.
const HEARTBEAT_SCRIPT = `local e = redis.call('GET', KEYS[1])
if not e then
  e = ARGV[1]
  redis.call('SET', KEYS[1], e)
end
redis.call('PUBLISH', ARGV[2], 'h:' .. e)
return e`;

/**
 * The gateway's copy of session state, so that a protected request costs no Redis round trip.
 * It remembers the answers of the session check and forgets them when told, through Redis
 * pub/sub, that a session or a subject's sessions ended (RedisSessionStore publishes in the same
 * script that writes). It trusts its copy only while in sync: subscribed, and hearing its own
 * and the other replicas' heartbeats. When the subscription drops or the heartbeats stop (Redis
 * down, frozen, a network cut), it forgets everything and asks Redis on every request, so it fails
 * closed (503) exactly like a direct check; back in sync, it starts again from nothing.
 *
 * Bounds: a session ended through the store is refused by every mirror as soon as the event
 * arrives (about a millisecond); if events stop arriving, within `staleAfterMs`; a session that
 * vanished from Redis without an event (data lost, evicted) within one heartbeat (new epoch) or
 * `maxAgeMs`.
 */
export class RedisSessionMirror implements SessionReader {
  private readonly store: RedisSessionStore;
  private readonly subscriber: Redis;
  private readonly channel: string;
  private readonly heartbeat: RedisScript;
  private readonly entries = new Map<string, Entry>();
  private readonly opts: Required<Omit<SessionMirrorOptions, 'log'>>;
  private epoch: string | undefined;
  private inSync = false;
  private lastBeat = 0;
  // Changes whenever something may have ended: an answer read before it is not remembered.
  private generation = 0;
  private hits = 0;
  private misses = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly options: SessionMirrorOptions = {},
  ) {
    this.opts = {
      maxEntries: options.maxEntries ?? 100_000,
      heartbeatMs: options.heartbeatMs ?? 250,
      staleAfterMs: options.staleAfterMs ?? 1_000,
      maxAgeMs: options.maxAgeMs ?? 60_000,
      now: options.now ?? Date.now,
    };
    this.store = new RedisSessionStore(redis);
    this.channel = sessionEventsChannel(redis);
    this.heartbeat = defineScript(redis, 'sessionHeartbeat', 1, HEARTBEAT_SCRIPT);
    // Its own connection (a subscribed one can do nothing else); it queues the SUBSCRIBE until
    // Redis answers and subscribes again after every reconnect.
    this.subscriber = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: true, commandTimeout: undefined, lazyConnect: true });
  }

  /** Subscribes and starts the heartbeats; resolves at once, whether Redis answers or not. */
  start(): void {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.onEvent(message);
    });
    for (const event of ['close', 'reconnecting', 'end']) {
      this.subscriber.on(event, () => {
        this.outOfSync('the session events subscription dropped');
      });
    }
    // Errors are reported by the main client already; without a listener ioredis would print them.
    this.subscriber.on('error', () => undefined);
    this.subscriber.connect().catch(() => undefined);
    this.subscriber.subscribe(this.channel).catch(() => undefined);
    this.timer = setInterval(() => this.tick(), this.opts.heartbeatMs);
    this.timer.unref();
    this.tick();
  }

  /** The answer in memory, while in sync and still fresh; undefined when Redis must be asked. */
  knownSessionState(sid: string, sub: string): boolean | undefined {
    if (!this.inSync) return undefined;
    const entry = this.entries.get(sid);
    if (entry === undefined || entry.sub !== sub || (entry.active && entry.until <= this.opts.now())) return undefined;
    this.hits += 1;
    return entry.active;
  }

  async isSessionActive(sid: string, sub: string): Promise<boolean> {
    const inMemory = this.knownSessionState(sid, sub);
    if (inMemory !== undefined) return inMemory;
    this.misses += 1;
    const generation = this.generation;
    const state = await this.store.sessionState(sid, sub);
    // An end announced while the answer was on its way may be older than the answer or newer:
    // not knowing, do not remember it. An ended session never comes back, so "no" is kept.
    // A sid asked for with another subject (no valid token does that) must not replace its entry.
    const known = this.entries.get(sid);
    if (this.inSync && (generation === this.generation || !state.active) && (!known || known.sub === sub)) {
      this.remember(sid, { sub, active: state.active, until: this.opts.now() + Math.min(state.ttlMs, this.opts.maxAgeMs) });
    }
    return state.active;
  }

  /** This process ended the session itself: refuse it at once, not when the event comes back. */
  sessionEnded(sid: string): void {
    this.generation += 1;
    const entry = this.entries.get(sid);
    if (entry) entry.active = false;
  }

  /** This process ended every session of `sub` itself (logout-all). */
  subjectRevoked(sub: string): void {
    this.generation += 1;
    for (const entry of this.entries.values()) if (entry.sub === sub) entry.active = false;
  }

  ping(): Promise<void> {
    return this.store.ping();
  }

  state(): SessionMirrorState {
    return { inSync: this.inSync, entries: this.entries.size, hits: this.hits, misses: this.misses };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.inSync = false;
    this.subscriber.disconnect();
  }

  private onEvent(message: string): void {
    const kind = message.slice(0, 2);
    const value = message.slice(2);
    if (kind === 's:') {
      this.sessionEnded(value);
    } else if (kind === 'u:') {
      this.subjectRevoked(value);
    } else if (kind === 'h:') {
      this.lastBeat = this.opts.now();
      if (this.epoch !== undefined && value !== this.epoch) this.outOfSync('Redis lost its session data (new epoch)');
      this.epoch = value;
      // A heartbeat heard proves the subscription is up: from now on no end can pass unheard.
      if (!this.inSync) {
        this.inSync = true;
        this.generation += 1;
        this.options.log?.info({}, 'session mirror in sync');
      }
    }
  }

  private tick(): void {
    if (this.inSync && this.opts.now() - this.lastBeat > this.opts.staleAfterMs) this.outOfSync('no heartbeat through Redis');
    // A new candidate each time: the epoch that replaces a lost one must differ from it.
    guardRedis(() => this.heartbeat(keys.sessionsEpoch, randomUUID(), this.channel)).catch(() => undefined);
  }

  private outOfSync(reason: string): void {
    this.generation += 1;
    this.entries.clear();
    if (!this.inSync) return;
    this.inSync = false;
    this.options.log?.warn({ reason }, 'session mirror out of sync; checking every request in Redis until it is back');
  }

  private remember(sid: string, entry: Entry): void {
    this.entries.delete(sid);
    this.entries.set(sid, entry);
    if (this.entries.size > this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
