// Entry: plaid-service as its own process on NATS + Redis.
import { ConfigError, createLogger, loadConfigOrExit, runServiceProcess } from '@repo/runtime';
import { RedisPlaidStore, RedisWebhookReplayStore } from '@repo/stores';
import { buildPlaidService, SERVICE_NAME } from './app.ts';
import { loadConfig, resolvePlaidSettings } from './config.ts';

const config = loadConfigOrExit(SERVICE_NAME, loadConfig);
const settings = loadConfigOrExit(SERVICE_NAME, () => {
  const resolved = resolvePlaidSettings(config);
  // Tokens in Redis must outlive this process and be readable by every replica.
  if (resolved.tokenKeyIsEphemeral) {
    throw new ConfigError('PLAID_TOKEN_ENCRYPTION_KEY is required when plaid-service runs as its own process; set it to `openssl rand -base64 32` (the same value for every replica)');
  }
  // This process never runs an emulator itself (the image holds no emulator code): replicas share
  // one, where the items live. The embedded default (`npm start`) starts one for you.
  if (resolved.usesEmulator && !resolved.baseUrl) {
    throw new ConfigError('PLAID_CLIENT_ID and PLAID_SECRET are required when plaid-service runs as its own process, or PLAID_BASE_URL to use a Plaid emulator (e.g. http://127.0.0.1:3011)');
  }
  return resolved;
});
const log = createLogger(SERVICE_NAME, config.LOG_LEVEL);

if (settings.usesEmulator) log.info({ emulator: settings.baseUrl }, 'using the Plaid emulator');
if (!settings.webhookUrl) log.warn({}, 'PLAID_WEBHOOK_URL is not set: Plaid cannot announce new transactions, so every transactions read asks Plaid for changes');

await runServiceProcess({
  name: SERVICE_NAME,
  config,
  log,
  build: ({ bus, redis, metrics }) =>
    buildPlaidService({ settings, bus, store: new RedisPlaidStore(redis), webhookReplays: new RedisWebhookReplayStore(redis), logger: log, metrics }),
});
