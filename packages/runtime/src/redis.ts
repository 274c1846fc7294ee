import { Redis } from 'ioredis';
import type { BusLogger } from '@repo/bus';

/**
 * One Redis client per process, set up to fail fast: no offline queue (a command while Redis is
 * down rejects at once, so protected routes answer 503 instead of hanging), one retry at most,
 * short timeouts, and reconnects in the background forever.
 */
export function createRedis(url: string, keyPrefix: string, log: Pick<BusLogger, 'warn' | 'info'>): Redis {
  const redis = new Redis(url, {
    keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    // A frozen Redis must not hold a request past the 2 s an outage may cost: a protected request
    // makes two Redis calls in a row (rate limit, session), so each gets well under half of it.
    commandTimeout: 700,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
  let healthy = true;
  redis.on('error', (err: Error) => {
    // ioredis emits an error per failed reconnect; one line per outage is enough.
    if (healthy) log.warn({ err: { message: err.message } }, 'Redis unreachable; protected routes answer 503 until it is back');
    healthy = false;
  });
  redis.on('ready', () => {
    if (!healthy) log.info({}, 'Redis reachable again');
    healthy = true;
  });
  return redis;
}

/** Waits (bounded) for the first connection, so a healthy start does not begin with 503s. */
export async function waitForRedis(redis: Redis, timeoutMs = 5_000): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
