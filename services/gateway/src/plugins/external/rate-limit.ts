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
    /**
     * A preHandler limiting a route by keys of its own, on top of the per-IP limit (never instead
     * of it). The limits count in order: a request one of them refuses spends none of the later ones.
     */
    limitBy(...limits: KeyedLimit[]): (request: FastifyRequest) => Promise<void>;
  }
}

type LimitResult = Awaited<ReturnType<ReturnType<FastifyInstance['createRateLimit']>>>;

function enforce(result: LimitResult, limit: 'per_ip' | 'keyed', onRejected: RateLimitOptions['onRejected']): void {
  if (result.isAllowed || !result.isExceeded) return;
  refuse(result.ttlInSeconds, limit, onRejected);
}

function refuse(ttlInSeconds: number, limit: 'per_ip' | 'keyed', onRejected: RateLimitOptions['onRejected']): never {
  onRejected?.(limit);
  const retryAfter = Math.max(1, ttlInSeconds);
  throw new AppError('RATE_LIMITED', `Too many requests; retry in ${retryAfter} s`, { retryAfter });
}

/**
 * Per-IP request limits (shared by the replicas through Redis when there is one, counted locally
 * and synced every RATE_LIMIT_SYNC_MS: see rate-limit-store.ts), checked in a root-level onRequest
 * hook: it runs before every route's own hooks, so requests that fail authentication spend the
 * budget too. Routes add limits of their own with `limitBy` (counted exactly in Redis, all of a
 * request's in one script); those add to the per-IP limit. If the counter store cannot answer, requests pass: the routes that need
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

    app.decorate('limitBy', (...limits: KeyedLimit[]) => {
      if (shared) {
        // Every limit of the request in one script: one Redis round trip, however many there are.
        return async (request: FastifyRequest) => {
          const counted = limits.map((limit) => ({ key: limit.key(request), max: limit.max, windowMs: limit.timeWindowMs }));
          // As the plugin's skipOnError: if the counters cannot answer, the request passes.
          const refused = await shared.countInOrder(counted).catch(() => undefined);
          if (refused) refuse(Math.ceil(refused.ttlMs / 1000), 'keyed', opts.onRejected);
        };
      }
      const limiters = limits.map((limit) => app.createRateLimit({ max: limit.max, timeWindow: limit.timeWindowMs, keyGenerator: limit.key }));
      return async (request: FastifyRequest) => {
        for (const limiter of limiters) enforce(await limiter(request), 'keyed', opts.onRejected);
      };
    });
  },
  { name: 'rate-limit', dependencies: ['error-handler'] },
);
