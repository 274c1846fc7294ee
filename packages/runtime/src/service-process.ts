import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { NatsBus, type Bus } from '@repo/bus';
import { loggerOptions } from './logger.ts';
import { createRedis, waitForRedis } from './redis.ts';
import { closeOnSignals } from './shutdown.ts';

export interface ServiceProcessConfig {
  LOG_LEVEL: string;
  NATS_URL: string;
  NATS_SUBJECT_PREFIX: string;
  REDIS_URL: string;
  REDIS_KEY_PREFIX: string;
  PORT: number;
  HOST: string;
}

/**
 * Runs one service as its own process: NATS, one Redis client, the app listening for health
 * checks, and a clean shutdown (app, then bus, then Redis, then `onClose`) on SIGINT/SIGTERM.
 */
export async function runServiceProcess(options: {
  name: string;
  config: ServiceProcessConfig;
  log?: Logger;
  busTimeoutMs?: number;
  build(deps: { bus: Bus; redis: Redis; log: Logger }): Promise<FastifyInstance>;
  onClose?: () => Promise<void>;
}): Promise<void> {
  const { config, name } = options;
  const log = options.log ?? pino(loggerOptions(name, config.LOG_LEVEL));
  const bus = await NatsBus.connect({
    url: config.NATS_URL,
    name,
    subjectPrefix: config.NATS_SUBJECT_PREFIX,
    log,
    ...(options.busTimeoutMs ? { requestTimeoutMs: options.busTimeoutMs } : {}),
  });
  const redis = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX, log);
  await waitForRedis(redis);
  const app = await options.build({ bus, redis, log });
  await app.listen({ port: config.PORT, host: config.HOST });
  closeOnSignals(log, async () => {
    await app.close();
    await bus.close();
    redis.disconnect();
    await options.onClose?.();
  });
}
