// The embedded default: every service in one process over the in-process bus, in-memory stores
// (or Redis when REDIS_URL is set), and the emulators on loopback. Same service code as in
// production; only the adapters differ.
import { Type } from '@sinclair/typebox';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Redis } from 'ioredis';
import { buildAuthService, AuthEnv, EMULATOR_CREDENTIALS, resolveAuthSettings } from '@repo/auth-service';
import { InProcessBus } from '@repo/bus';
import { buildGateway, demoPageEnabled, GatewayEnv } from '@repo/gateway';
import { startPlaidEmulator } from '@repo/plaid-emulator';
import { buildPlaidService, PlaidEnv, resolvePlaidSettings } from '@repo/plaid-service';
import { ConfigError, JwtEnv, LogLevel, MetricsEnv, NodeEnv, parseEnv, createRedis, loggerOptions, waitForRedis, wantsPrettyLogs } from '@repo/runtime';
import {
  MemoryPlaidStore,
  MemorySessionStore,
  MemoryVerificationLimits,
  MemoryVerificationLog,
  MemoryWebhookReplayStore,
  RedisPlaidStore,
  RedisSessionStore,
  RedisVerificationLimits,
  RedisVerificationLog,
  RedisWebhookReplayStore,
} from '@repo/stores';
import { buildTokenService, keySetFrom } from '@repo/token-service';
import { busMetrics, createMetricsRegistry, startTracing, type MetricsSetup } from '@repo/telemetry';
import { generatePrivateJwk } from '@repo/tokens';
import { startTwilioVerifyEmulator } from '@repo/twilio-verify-emulator';

const EmbeddedEnv = Type.Object({
  NODE_ENV: NodeEnv,
  LOG_LEVEL: LogLevel,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'gateway port' }),
  HOST: Type.String({ default: '127.0.0.1', description: 'gateway interface; 127.0.0.1 keeps the dev system private' }),
  REDIS_URL: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_KEY_PREFIX: Type.String({ default: 'phone-login:' }),
  TWILIO_EMULATOR_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3010, description: 'port of the embedded Twilio Verify emulator (a free one if taken)' }),
  PLAID_EMULATOR_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3011, description: 'port of the embedded Plaid emulator (a free one if taken)' }),
  ...MetricsEnv,
});

/**
 * Starts an emulator on its usual port so its URL is stable, or on a free one if that is taken;
 * `moved` says which, so the start banner can tell the user (the README's examples use 3010).
 */
async function onPreferredPort<T>(port: number, start: (port: number) => Promise<T>): Promise<{ emulator: T; moved: boolean }> {
  try {
    return { emulator: await start(port), moved: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw err;
    return { emulator: await start(0), moved: true };
  }
}

/** An emulator that could not have its usual port (taken) and runs on another one. */
export interface MovedEmulator {
  name: 'Twilio Verify emulator' | 'Plaid emulator';
  variable: 'TWILIO_EMULATOR_PORT' | 'PLAID_EMULATOR_PORT';
  wantedPort: number;
  url: string;
}

export interface EmbeddedSystem {
  /** The gateway, e.g. http://127.0.0.1:3000 */
  url: string;
  /** The Twilio Verify emulator, when no Twilio credentials are set. */
  twilioEmulatorUrl: string | undefined;
  /** The Plaid emulator, when no Plaid credentials are set. */
  plaidEmulatorUrl: string | undefined;
  /** The gateway serves the demo page at /demo (DEMO_PAGE, default on unless NODE_ENV=production). */
  demoPage: boolean;
  /** Emulators whose port was taken, now on a free one. */
  movedEmulators: MovedEmulator[];
  /** Stops the embedded Plaid emulator (tests use it to see Plaid "down"). */
  stopPlaidEmulator(): Promise<void>;
  log: Logger;
  close(): Promise<void>;
}

export async function startEmbedded(env: NodeJS.ProcessEnv = process.env): Promise<EmbeddedSystem> {
  const config = parseEnv(EmbeddedEnv, env);
  // Synchronous writes to stdout (one process, a developer's machine); readable at a terminal.
  const log = wantsPrettyLogs(env)
    ? pino(loggerOptions('embedded', config.LOG_LEVEL), pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }))
    : pino(loggerOptions('embedded', config.LOG_LEVEL));

  // Without configured keys, tokens are signed with a per-process key: a restart ends every
  // session, as the in-memory sessions are gone too. Never in production: every restart or second
  // replica would silently log everyone out.
  if (!env.JWT_PRIVATE_KEYS && config.NODE_ENV === 'production') {
    throw new ConfigError('JWT_PRIVATE_KEYS is required when NODE_ENV=production (a JWK Set of Ed25519 signing keys from `npm run keys:generate`; without it every restart would log everyone out)');
  }
  const privateKeys = env.JWT_PRIVATE_KEYS || JSON.stringify({ keys: [generatePrivateJwk()] });
  if (env.JWT_PRIVATE_KEYS && !config.REDIS_URL) {
    log.warn('JWT_PRIVATE_KEYS is set but REDIS_URL is not: sessions are kept in memory, so a restart still logs everyone out');
  }
  const jwt = parseEnv(Type.Object(JwtEnv), { ...env, JWT_PRIVATE_KEYS: privateKeys });
  keySetFrom(jwt);
  const gatewaySettings = parseEnv(GatewayEnv, env);
  const authSettings = resolveAuthSettings(parseEnv(AuthEnv, env));
  const plaidSettings = resolvePlaidSettings(parseEnv(PlaidEnv, env));
  if (plaidSettings.tokenKeyIsEphemeral && config.REDIS_URL) {
    // A stored item is only readable with the key it was encrypted with.
    log.warn('PLAID_TOKEN_ENCRYPTION_KEY is not set: linked bank items kept in Redis become unreadable after a restart');
  }

  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const fn of closers.reverse()) await fn().catch((err: unknown) => log.error({ err }, 'error while closing'));
  };

  try {
    const movedEmulators: MovedEmulator[] = [];
    let twilioEmulatorUrl: string | undefined;
    if (authSettings.usesEmulator && !authSettings.twilio.baseUrl) {
      const { emulator, moved } = await onPreferredPort(config.TWILIO_EMULATOR_PORT, (port) =>
        startTwilioVerifyEmulator({
          port,
          credentials: { accountSid: EMULATOR_CREDENTIALS.accountSid, authToken: EMULATOR_CREDENTIALS.authToken },
        }),
      );
      closers.push(() => emulator.close());
      authSettings.twilio.baseUrl = emulator.url;
      if (moved) movedEmulators.push({ name: 'Twilio Verify emulator', variable: 'TWILIO_EMULATOR_PORT', wantedPort: config.TWILIO_EMULATOR_PORT, url: emulator.url });
    }
    if (authSettings.usesEmulator) twilioEmulatorUrl = authSettings.twilio.baseUrl;

    let stopPlaidEmulator = async () => {};
    if (plaidSettings.usesEmulator && !plaidSettings.baseUrl) {
      const { emulator, moved } = await onPreferredPort(config.PLAID_EMULATOR_PORT, (port) =>
        startPlaidEmulator({ port, clientId: plaidSettings.clientId, secret: plaidSettings.secret }),
      );
      let stopped: Promise<void> | undefined;
      stopPlaidEmulator = () => (stopped ??= emulator.close());
      closers.push(() => stopPlaidEmulator());
      plaidSettings.baseUrl = emulator.url;
      if (moved) movedEmulators.push({ name: 'Plaid emulator', variable: 'PLAID_EMULATOR_PORT', wantedPort: config.PLAID_EMULATOR_PORT, url: emulator.url });
    }
    const plaidEmulatorUrl = plaidSettings.usesEmulator ? plaidSettings.baseUrl : undefined;

    let redis: Redis | undefined;
    if (config.REDIS_URL) {
      const client = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX, log);
      redis = client;
      closers.push(async () => client.disconnect());
      await waitForRedis(client);
    }
    const sessions = redis ? new RedisSessionStore(redis) : new MemorySessionStore();
    const verificationLog = redis ? new RedisVerificationLog(redis) : new MemoryVerificationLog();
    const verificationLimits = redis ? new RedisVerificationLimits(redis) : new MemoryVerificationLimits();
    const plaidStore = redis ? new RedisPlaidStore(redis) : new MemoryPlaidStore();
    const webhookReplays = redis ? new RedisWebhookReplayStore(redis) : new MemoryWebhookReplayStore();

    const stopTracing = await startTracing('embedded', env);
    closers.push(stopTracing);
    // One registry for the process: the gateway's /metrics shows every service's metrics.
    const metrics: MetricsSetup = { registry: createMetricsRegistry(), expose: config.METRICS_ENABLED };
    const serviceMetrics: MetricsSetup = { registry: metrics.registry, expose: false };
    const bus = new InProcessBus({ requestTimeoutMs: gatewaySettings.BUS_TIMEOUT_MS, metrics: busMetrics(metrics.registry) });
    closers.push(() => bus.close());

    const tokenService = await buildTokenService({ jwt, bus, sessions, logger: log.child({ service: 'token-service' }), metrics: serviceMetrics });
    closers.push(() => tokenService.close());
    await tokenService.ready();

    const authService = await buildAuthService({ settings: authSettings, bus, verificationLog, limits: verificationLimits, logger: log.child({ service: 'auth-service' }), metrics: serviceMetrics });
    closers.push(() => authService.close());
    await authService.ready();

    const plaidService = await buildPlaidService({ settings: plaidSettings, bus, store: plaidStore, webhookReplays, logger: log.child({ service: 'plaid-service' }), metrics: serviceMetrics });
    closers.push(() => plaidService.close());
    await plaidService.ready();

    const gateway = await buildGateway({
      settings: gatewaySettings,
      bus,
      sessions,
      ...(redis ? { redis } : {}),
      // The demo page shows the codes the emulator "sent".
      ...(twilioEmulatorUrl ? { twilioOutboxUrl: `${twilioEmulatorUrl}/outbox` } : {}),
      logger: log.child({ service: 'gateway' }),
      metrics,
    });
    closers.push(() => gateway.close());
    await gateway.listen({ port: config.PORT, host: config.HOST });
    const address = gateway.server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;

    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    // Plaid's webhooks come back through the gateway; its URL is known only now.
    plaidSettings.webhookUrl ??= `${url}/api/plaid/webhook`;

    return { url, twilioEmulatorUrl, plaidEmulatorUrl, demoPage: demoPageEnabled(gatewaySettings), movedEmulators, stopPlaidEmulator, log, close };
  } catch (err) {
    await close();
    throw err;
  }
}
