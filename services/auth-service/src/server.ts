// Entry: auth-service as its own process on NATS + Redis.
import { createLogger, loadConfigOrExit, runServiceProcess } from '@repo/runtime';
import { RedisVerificationLimits, RedisVerificationLog } from '@repo/stores';
import { startTwilioVerifyEmulator } from '@repo/twilio-verify-emulator';
import { buildAuthService, SERVICE_NAME } from './app.ts';
import { EMULATOR_CREDENTIALS, loadConfig, resolveAuthSettings } from './config.ts';

const config = loadConfigOrExit(SERVICE_NAME, loadConfig);
const settings = loadConfigOrExit(SERVICE_NAME, () => resolveAuthSettings(config));
const log = createLogger(SERVICE_NAME, config.LOG_LEVEL);

// No Twilio credentials and no emulator URL: run an emulator inside this process. Fine for one
// replica; several replicas must share one emulator (TWILIO_VERIFY_BASE_URL), as codes live there.
const emulator =
  settings.usesEmulator && !settings.twilio.baseUrl
    ? await startTwilioVerifyEmulator({ credentials: { accountSid: EMULATOR_CREDENTIALS.accountSid, authToken: EMULATOR_CREDENTIALS.authToken } })
    : undefined;
if (emulator) {
  settings.twilio.baseUrl = emulator.url;
  log.warn({ outbox: `${emulator.url}/outbox` }, 'no Twilio credentials: using an in-process Twilio Verify emulator (set TWILIO_VERIFY_BASE_URL to share one between replicas)');
} else if (settings.usesEmulator) {
  log.info({ emulator: settings.twilio.baseUrl }, 'using the Twilio Verify emulator');
}

await runServiceProcess({
  name: SERVICE_NAME,
  config,
  log,
  build: ({ bus, redis, metrics }) => buildAuthService({ settings, bus, verificationLog: new RedisVerificationLog(redis), limits: new RedisVerificationLimits(redis), logger: log, metrics }),
  onClose: async () => {
    await emulator?.close();
  },
});
