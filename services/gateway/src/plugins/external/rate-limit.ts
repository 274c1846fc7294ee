import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError } from '@repo/contracts';
import { sharedRateLimitStore } from './rate-limit-store.ts';

// How often a replica sends its per-IP counts to Redis: the limit's tolerance across replicas.
const RATE_LIMIT_SYNC_MS = 100;
const NAMESPACE = 'rate-limit:';

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
    /** A preHandler limiting a route by a key of its own, on top of the per-IP limit (never instead of it). */
    limitBy(limit: KeyedLimit): (request: FastifyRequest) => Promise<void>;
  }
}

type LimitResult = Awaited<ReturnType<ReturnType<FastifyInstance['createRateLimit']>>>;

function enforce(result: LimitResult, limit: 'per_ip' | 'keyed', onRejected: RateLimitOptions['onRejected']): void {
  if (result.isAllowed || !result.isExceeded) return;
  onRejected?.(limit);
  const retryAfter = Math.max(1, result.ttlInSeconds);
  throw new AppError('RATE_LIMITED', `Too many requests; retry in ${retryAfter} s`, { retryAfter });
}

/**
 * Per-IP request limits (shared by the replicas through Redis when there is one, counted locally
 * and synced every RATE_LIMIT_SYNC_MS: see rate-limit-store.ts), checked in a root-level onRequest
 * hook: it runs before every route's own hooks, so requests that fail authentication spend the
 * budget too. Routes add limits of their own with `limitBy` (counted exactly in Redis); those add
 * to the per-IP limit. If the counter store cannot answer, requests pass: the routes that need
 * Redis fail closed on their own.
 */
export default fp<RateLimitOptions>(
  async (app, opts) => {
    const shared = opts.redis ? sharedRateLimitStore(opts.redis, NAMESPACE, { syncMs: RATE_LIMIT_SYNC_MS }) : undefined;
    if (shared) app.addHook('onClose', () => shared.close());
    await app.register(rateLimit, {
      // No per-route hooks from the plugin: a route's own limit would replace the per-IP one.
      global: false,
      max: opts.perIpPerMinute,
      timeWindow: 60_000,
      // Without Redis (the embedded default), the plugin's in-memory counters.
      ...(shared ? { store: shared.Store } : {}),
      skipOnError: true,
    });

    const perIp = app.createRateLimit();
    app.addHook('onRequest', async (request, reply) => {
      // Health checks are exempt (config: { rateLimit: false }): probes must always get through.
      if (request.routeOptions.config.rateLimit === false) return;
      const result = await perIp(request);
      // The per-IP budget on every answer, so a client can slow down before it is refused.
      if (!result.isAllowed) {
        reply.header('x-ratelimit-limit', result.max).header('x-ratelimit-remaining', Math.max(0, result.remaining)).header('x-ratelimit-reset', result.ttlInSeconds);
      }
      enforce(result, 'per_ip', opts.onRejected);
    });

    app.decorate('limitBy', (limit: KeyedLimit) => {
      const limiter = app.createRateLimit({ max: limit.max, timeWindow: limit.timeWindowMs, keyGenerator: limit.key });
      return async (request: FastifyRequest) => enforce(await limiter(request), 'keyed', opts.onRejected);
    });
  },
  { name: 'rate-limit', dependencies: ['error-handler'] },
);
