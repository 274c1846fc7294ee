/** Standalone entry: `tsx src/server.ts`, configured by TWILIO_EMULATOR_* variables. */
import { startTwilioVerifyEmulator } from './start.ts';

function integerEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} is invalid: expected an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function credentialsEnv(): { accountSid: string; authToken: string } | undefined {
  const accountSid = process.env['TWILIO_EMULATOR_ACCOUNT_SID'] || undefined;
  const authToken = process.env['TWILIO_EMULATOR_AUTH_TOKEN'] || undefined;
  if (accountSid === undefined && authToken === undefined) return undefined;
  if (accountSid === undefined || authToken === undefined) {
    throw new Error('TWILIO_EMULATOR_ACCOUNT_SID and TWILIO_EMULATOR_AUTH_TOKEN must be set together');
  }
  return { accountSid, authToken };
}

async function main(): Promise<void> {
  const emulator = await startTwilioVerifyEmulator({
    host: process.env['TWILIO_EMULATOR_HOST'] || '127.0.0.1',
    port: integerEnv('TWILIO_EMULATOR_PORT', 3010, 0, 65535),
    codeTtlSeconds: integerEnv('TWILIO_EMULATOR_CODE_TTL_SECONDS', 600, 1, 86_400),
    credentials: credentialsEnv(),
  });
  console.log(`Twilio Verify emulator listening at ${emulator.url} (sent codes: ${emulator.url}/outbox)`);

  const shutdown = () => {
    emulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
