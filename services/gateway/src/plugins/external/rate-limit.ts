import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import { AppError } from '@repo/contracts';

export interface RateLimitOptions {
  /** Requests per minute per client IP, on every route that does not set its own limit. */
  perIpPerMinute: number;
  /** Shared counters for several gateway replicas; per-process counters without it. */
  redis: Redis | undefined;
}

/**
 * Per-IP request limits (shared in Redis when there is one). If the counter store cannot
 * answer, requests pass: the routes that need Redis fail closed on their own.
 */
export default fp<RateLimitOptions>(
  async (app, opts) => {
    await app.register(rateLimit, {
      global: true,
      max: opts.perIpPerMinute,
      timeWindow: 60_000,
      ...(opts.redis ? { redis: opts.redis } : {}),
      nameSpace: 'rate-limit:',
      skipOnError: true,
      errorResponseBuilder: (_request, context) =>
        new AppError('RATE_LIMITED', `Too many requests; retry in ${context.after}`, { retryAfter: Math.max(1, Math.ceil(context.ttl / 1000)) }),
    });
  },
  { name: 'rate-limit', dependencies: ['error-handler'] },
);
