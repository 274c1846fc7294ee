import { Redis, type RedisOptions } from 'ioredis';
import type { BusLogger } from '@repo/bus';
import { ConfigError } from './env.ts';

/** Where Redis is: one server (url), or the primary that Redis Sentinel names (sentinels). */
export interface RedisTarget {
  url?: string | undefined;
  /** host:port,host:port of the Sentinels; the primary is whichever server they name. */
  sentinels?: string | undefined;
  sentinelName?: string | undefined;
  sentinelPassword?: string | undefined;
}

/** The Redis target of a service's configuration (CommonEnv): REDIS_URL, or REDIS_SENTINELS. */
export function redisTargetOf(config: {
  REDIS_URL?: string | undefined;
  REDIS_SENTINELS?: string | undefined;
  REDIS_SENTINEL_NAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
}): RedisTarget {
  if (!config.REDIS_URL && !config.REDIS_SENTINELS) {
    throw new ConfigError('REDIS_URL or REDIS_SENTINELS is required (Redis URL, e.g. redis://127.0.0.1:6379; or Sentinels, host:port comma-separated)');
  }
  return { url: config.REDIS_URL, sentinels: config.REDIS_SENTINELS, sentinelName: config.REDIS_SENTINEL_NAME, sentinelPassword: config.REDIS_SENTINEL_PASSWORD };
}

/** ioredis options for Sentinel: the primary's credentials, database and TLS come from the URL, if any. */
function sentinelOptions(target: RedisTarget): RedisOptions {
  const sentinels = target.sentinels!.split(',').map((entry) => {
    const at = entry.lastIndexOf(':');
    return { host: entry.slice(0, at).trim(), port: Number(entry.slice(at + 1)) };
  });
  const url = target.url ? new URL(target.url) : undefined;
  const db = url && url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined;
  return {
    sentinels,
    name: target.sentinelName ?? 'mymaster',
    ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
    ...(url?.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url?.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
    ...(url?.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    // No failoverDetector (ioredis's +switch-master listener): a lost primary closes the connection,
    // and the client then asks the Sentinels again. With it, one cluster failover test run left
    // every client without Redis after the failover (most likely an announcement during a reconnect).
    // Asks the Sentinels again soon after a primary is lost, at most every 500 ms.
    sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, 500),
  };
}

/**
 * One Redis client per process, set up to fail fast: no offline queue (a command while Redis is
 * down rejects at once, so protected routes answer 503 instead of hanging), one retry at most,
 * short timeouts, and reconnects in the background forever. With Sentinels, it connects to the
 * primary they name and follows a failover (a command meanwhile fails at once, as in an outage).
 */
export function createRedis(target: string | RedisTarget, keyPrefix: string, log: Pick<BusLogger, 'warn' | 'info'>): Redis {
  const where = typeof target === 'string' ? { url: target } : target;
  const options: RedisOptions = {
    keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    // A frozen Redis must not hold a request past the 2 s an outage may cost: a request may make
    // two Redis calls in a row (send-verification's limits, then auth-service's; a session the
    // gateway's mirror does not know yet), so each gets well under half of it.
    commandTimeout: 700,
    // Off: it holds every command back to the next event-loop turn and wraps it in a pipeline of
    // its own, which costs a login (a dozen commands, nearly all one after the other) about 1-2 ms
    // on a busy machine. Commands sent together still share a round trip: ioredis writes each at
    // once, without waiting for the previous answer.
    enableAutoPipelining: false,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  };
  const redis = where.sentinels ? new Redis({ ...options, ...sentinelOptions(where) }) : new Redis(where.url!, options);
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
