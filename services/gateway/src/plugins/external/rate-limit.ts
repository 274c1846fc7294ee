import fp from 'fastify-plugin';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError } from '@repo/contracts';
import { BatchedCounters, exactLimits } from './rate-limit-store.ts';

// How often a replica sends its per-IP counts to Redis: the limit's tolerance across replicas.
const RATE_LIMIT_SYNC_MS = 100;
const NAMESPACE = 'rate-limit:';
const PER_IP_WINDOW_MS = 60_000;

/**
 * The per-IP limit's key of a client address, the same as the routes' own limits use
 * (@fastify/rate-limit's normalizeIP: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by its /64,
 * which a device usually holds whole). An IPv4 address skips the IPv6 parser.
 */
const clientKey = (ip: string): string => (ip.includes(':') ? normalizeIP(ip) : ip);

export interface RateLimitOptions {
  /** Requests per minute per client IP, on every route but health checks. */
  perIpPerMinute: number;
  /** Shared counters for several gateway replicas; per-process counters without it. */
  redis: Redis | undefined;
  /** Told of every refusal (metrics). */
  onRejected?: ((limit: 'per_ip' | 'keyed') => void) | undefined;
}

export interface KeyedLimit {
  max: number;
  timeWindowMs: number;
  /** The counter's key, e.g. the normalised phone number; namespaced by the caller. */
  key(request: FastifyRequest): string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A preHandler limiting a route by keys of its own, on top of the per-IP limit (never instead
     * of it). The limits count in order: a request one of them refuses spends none of the later ones.
     */
    limitBy(...limits: KeyedLimit[]): (request: FastifyRequest) => Promise<void>;
  }
}

type LimitResult = Awaited<ReturnType<ReturnType<FastifyInstance['createRateLimit']>>>;

function rateLimited(ttlInSeconds: number, limit: 'per_ip' | 'keyed', onRejected: RateLimitOptions['onRejected']): AppError {
  onRejected?.(limit);
  const retryAfter = Math.max(1, ttlInSeconds);
  return new AppError('RATE_LIMITED', `Too many requests; retry in ${retryAfter} s`, { retryAfter });
}

function enforce(result: LimitResult, onRejected: RateLimitOptions['onRejected']): void {
  if (result.isAllowed || !result.isExceeded) return;
  throw rateLimited(result.ttlInSeconds, 'keyed', onRejected);
}

/**
 * Per-IP request limits, checked in a root-level onRequest hook: it runs before every route's own
 * hooks, so requests that fail authentication spend the budget too. The counts are kept in memory
 * and, when there is Redis, shared by the replicas, each sending its counts every
 * RATE_LIMIT_SYNC_MS (see BatchedCounters): the check is synchronous, no round trip and no promise
 * per request. Routes add limits of their own with `limitBy` (counted exactly in Redis, all of a
 * request's in one script; in @fastify/rate-limit's memory without Redis); those add to the per-IP
 * limit. If a route's counters cannot answer, requests pass: the routes that need Redis fail
 * closed on their own.
 */
export default fp<RateLimitOptions>(
  async (app, opts) => {
    const counters = new BatchedCounters(opts.redis, NAMESPACE, { syncMs: RATE_LIMIT_SYNC_MS });
    app.addHook('onClose', () => counters.close());
    const max = opts.perIpPerMinute;
    const limitHeader = String(max);
    app.addHook('onRequest', (request, reply, done) => {
      // Health checks are exempt (config: { rateLimit: false }): probes must always get through.
      if (request.routeOptions.config.rateLimit === false) return done();
      const { current, ttl } = counters.incr(clientKey(request.ip), PER_IP_WINDOW_MS);
      const resetSeconds = Math.ceil(ttl / 1000);
      // The per-IP budget on every answer, so a client can slow down before it is refused. Written
      // with toFixed: a number made a string implicitly goes through V8's number-string cache,
      // which keeps it alive until it is promoted, and a count that differs on every request
      // (remaining) then filled the old generation with about 1 MB/s of garbage under load.
      reply.header('x-ratelimit-limit', limitHeader).header('x-ratelimit-remaining', Math.max(0, max - current).toFixed(0)).header('x-ratelimit-reset', resetSeconds.toFixed(0));
      if (current <= max) return done();
      done(rateLimited(resetSeconds, 'per_ip', opts.onRejected));
    });

    if (opts.redis) {
      const countInOrder = exactLimits(opts.redis, NAMESPACE);
      app.decorate('limitBy', (...limits: KeyedLimit[]) => async (request: FastifyRequest) => {
        const counted = limits.map((limit) => ({ key: limit.key(request), max: limit.max, windowMs: limit.timeWindowMs }));
        // As @fastify/rate-limit's skipOnError: if the counters cannot answer, the request passes.
        const refused = await countInOrder(counted).catch(() => undefined);
        if (refused) throw rateLimited(Math.ceil(refused.ttlMs / 1000), 'keyed', opts.onRejected);
      });
      return;
    }
    // Without Redis (the embedded default): @fastify/rate-limit's in-memory counters.
    await app.register(rateLimit, { global: false, skipOnError: true });
    app.decorate('limitBy', (...limits: KeyedLimit[]) => {
      const limiters = limits.map((limit) => app.createRateLimit({ max: limit.max, timeWindow: limit.timeWindowMs, keyGenerator: limit.key }));
      return async (request: FastifyRequest) => {
        for (const limiter of limiters) enforce(await limiter(request), opts.onRejected);
      };
    });
  },
  { name: 'rate-limit', dependencies: ['error-handler'] },
);
