// Entry: auth-service as its own process on NATS + Redis.
import { ConfigError, createLogger, loadConfigOrExit, runServiceProcess } from '@repo/runtime';
import { RedisVerificationLimits, RedisVerificationLog } from '@repo/stores';
import { buildAuthService, SERVICE_NAME } from './app.ts';
import { loadConfig, resolveAuthSettings } from './config.ts';

const config = loadConfigOrExit(SERVICE_NAME, loadConfig);
const settings = loadConfigOrExit(SERVICE_NAME, () => {
  const resolved = resolveAuthSettings(config);
  // This process never runs an emulator itself (the image holds no emulator code): replicas share
  // one, where the codes live. The embedded default (`npm start`) starts one for you.
  if (resolved.usesEmulator && !resolved.twilio.baseUrl) {
    throw new ConfigError(
      'TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_VERIFY_SERVICE_SID are required when auth-service runs as its own process, or TWILIO_VERIFY_BASE_URL to use a Twilio Verify emulator (e.g. http://127.0.0.1:3010)',
    );
  }
  return resolved;
});
const log = createLogger(SERVICE_NAME, config.LOG_LEVEL);
if (settings.usesEmulator) log.info({ emulator: settings.twilio.baseUrl }, 'using the Twilio Verify emulator');

await runServiceProcess({
  name: SERVICE_NAME,
  config,
  log,
  build: ({ bus, redis, metrics }) => buildAuthService({ settings, bus, verificationLog: new RedisVerificationLog(redis), limits: new RedisVerificationLimits(redis), logger: log, metrics }),
});
