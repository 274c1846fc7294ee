import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { NatsBus, type Bus, type NatsBusOptions } from '@repo/bus';
import { busMetrics, createMetricsRegistry, startTracing, type MetricsSetup } from '@repo/telemetry';
import { loadConfigOrExit, parseEnv } from './env.ts';
import { createLogger } from './logger.ts';
import { createRedis, redisTargetOf, waitForRedis } from './redis.ts';
import { closeOnSignals, shutdownEnv } from './shutdown.ts';

export interface ServiceProcessConfig {
  LOG_LEVEL: string;
  NATS_URL: string;
  NATS_SUBJECT_PREFIX: string;
  NATS_USER?: string | undefined;
  NATS_PASSWORD?: string | undefined;
  NATS_CREDS?: string | undefined;
  NATS_NKEY_SEED?: string | undefined;
  NATS_TLS_CA?: string | undefined;
  NATS_TLS_CERT?: string | undefined;
  NATS_TLS_KEY?: string | undefined;
  NATS_INBOX_PREFIX?: string | undefined;
  REDIS_URL?: string | undefined;
  REDIS_SENTINELS?: string | undefined;
  REDIS_SENTINEL_NAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_KEY_PREFIX: string;
  PORT: number;
  HOST: string;
  METRICS_ENABLED: boolean;
}

/** A healthy start waits this long for NATS and Redis, so it does not begin with 503s; then it starts anyway. */
const START_WAIT_MS = 5_000;
/** Left to close the bus and Redis after the in-flight requests, before close-with-grace gives up. */
const CLOSE_MARGIN_MS = 5_000;

export function natsBusFor(name: string, config: Omit<ServiceProcessConfig, 'METRICS_ENABLED'>, log: Logger, options: Partial<Pick<NatsBusOptions, 'requestTimeoutMs' | 'stopTimeoutMs' | 'metrics'>> = {}): NatsBus {
  return new NatsBus({
    url: config.NATS_URL,
    name,
    log,
    subjectPrefix: config.NATS_SUBJECT_PREFIX,
    auth: {
      ...(config.NATS_USER ? { user: config.NATS_USER } : {}),
      ...(config.NATS_PASSWORD ? { password: config.NATS_PASSWORD } : {}),
      ...(config.NATS_CREDS ? { credsFile: config.NATS_CREDS } : {}),
      ...(config.NATS_NKEY_SEED ? { nkeySeed: config.NATS_NKEY_SEED } : {}),
    },
    tls: {
      ...(config.NATS_TLS_CA ? { caFile: config.NATS_TLS_CA } : {}),
      ...(config.NATS_TLS_CERT ? { certFile: config.NATS_TLS_CERT } : {}),
      ...(config.NATS_TLS_KEY ? { keyFile: config.NATS_TLS_KEY } : {}),
    },
    ...(config.NATS_INBOX_PREFIX ? { inboxPrefix: config.NATS_INBOX_PREFIX } : {}),
    ...options,
  });
}

/**
 * Runs one service as its own process: NATS (connecting in the background: a service started
 * while NATS is down starts, reports not ready and serves once NATS is there), one Redis client,
 * the app listening, and a graceful shutdown on SIGINT/SIGTERM: readiness turns 503, the process
 * keeps serving for SHUTDOWN_DRAIN_MS, then the app closes (bus subscriptions drained, in-flight
 * work finished within SHUTDOWN_TIMEOUT_MS), then the bus, Redis and `onClose`. Its metrics go to
 * a registry of its own (bus metrics included; /metrics unless METRICS_ENABLED=false), its spans
 * to OTEL_EXPORTER_OTLP_ENDPOINT when that is set.
 */
export async function runServiceProcess(options: {
  name: string;
  config: ServiceProcessConfig;
  log?: Logger;
  busTimeoutMs?: number;
  /** SHUTDOWN_DRAIN_MS when unset: the gateway keeps serving while load balancers notice; services need not. */
  defaultDrainMs?: number;
  build(deps: { bus: Bus; redis: Redis; log: Logger; metrics: MetricsSetup }): Promise<FastifyInstance>;
  onClose?: () => Promise<void>;
}): Promise<void> {
  const { config, name } = options;
  const shutdown = loadConfigOrExit(name, () => parseEnv(shutdownEnv(options.defaultDrainMs ?? 0)));
  const log = options.log ?? createLogger(name, config.LOG_LEVEL);
  const stopTracing = await startTracing(name);
  const metrics: MetricsSetup = { registry: createMetricsRegistry(), expose: config.METRICS_ENABLED };
  const bus = natsBusFor(name, config, log, {
    stopTimeoutMs: shutdown.SHUTDOWN_TIMEOUT_MS,
    metrics: busMetrics(metrics.registry),
    ...(options.busTimeoutMs ? { requestTimeoutMs: options.busTimeoutMs } : {}),
  });
  const redisTarget = loadConfigOrExit(name, () => redisTargetOf(config));
  const redis = createRedis(redisTarget, config.REDIS_KEY_PREFIX, log);
  await Promise.all([waitForRedis(redis, START_WAIT_MS), bus.whenConnected(START_WAIT_MS)]);
  const app = await options.build({ bus, redis, log, metrics });
  await app.listen({ port: config.PORT, host: config.HOST });
  closeOnSignals(
    log,
    async () => {
      bus.announceShutdown();
      if (shutdown.SHUTDOWN_DRAIN_MS > 0) {
        log.info({ drainMs: shutdown.SHUTDOWN_DRAIN_MS }, 'not ready any more; still serving while traffic moves away');
        await new Promise((resolve) => setTimeout(resolve, shutdown.SHUTDOWN_DRAIN_MS));
      }
      await app.close();
      await bus.close();
      redis.disconnect();
      await options.onClose?.();
      await stopTracing().catch((err: unknown) => log.warn({ err }, 'could not flush the last spans'));
      log.info({}, 'closed');
    },
    shutdown.SHUTDOWN_DRAIN_MS + shutdown.SHUTDOWN_TIMEOUT_MS + CLOSE_MARGIN_MS,
  );
}
