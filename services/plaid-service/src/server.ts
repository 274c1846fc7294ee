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
  return resolved;
});
const log = createLogger(SERVICE_NAME, config.LOG_LEVEL);

// No Plaid credentials and no emulator URL: run an emulator inside this process. Fine for one
// replica; several replicas must share one emulator (PLAID_BASE_URL), as items live there.
// Imported only then, so a deployment on real Plaid never loads emulator code.
const emulator =
  settings.usesEmulator && !settings.baseUrl
    ? await (await import('@repo/plaid-emulator')).startPlaidEmulator({ clientId: settings.clientId, secret: settings.secret, ...(settings.webhookUrl ? { webhookUrl: settings.webhookUrl } : {}) })
    : undefined;
if (emulator) {
  settings.baseUrl = emulator.url;
  log.warn({ emulator: emulator.url }, 'no Plaid credentials: using an in-process Plaid emulator (set PLAID_BASE_URL to share one between replicas)');
} else if (settings.usesEmulator) {
  log.info({ emulator: settings.baseUrl }, 'using the Plaid emulator');
}
if (!settings.webhookUrl) log.warn({}, 'PLAID_WEBHOOK_URL is not set: Plaid cannot announce new transactions, so every transactions read asks Plaid for changes');

await runServiceProcess({
  name: SERVICE_NAME,
  config,
  log,
  build: ({ bus, redis, metrics }) =>
    buildPlaidService({ settings, bus, store: new RedisPlaidStore(redis), webhookReplays: new RedisWebhookReplayStore(redis), logger: log, metrics }),
  onClose: async () => {
    await emulator?.close();
  },
});
