/** Standalone entry: `tsx src/server.ts`, configured by TWILIO_EMULATOR_* variables. */
import { Type } from '@sinclair/typebox';
import { ConfigError, Port, runStandalone } from '@repo/runtime';
import { DEFAULT_SERVICE_SID } from './app.ts';
import { startTwilioVerifyEmulator } from './start.ts';

const Env = Type.Object({
  TWILIO_EMULATOR_HOST: Type.String({ default: '127.0.0.1', description: 'interface to listen on' }),
  TWILIO_EMULATOR_PORT: Port(3010),
  TWILIO_EMULATOR_CODE_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 600, description: 'lifetime of a code in seconds' }),
  TWILIO_EMULATOR_ACCOUNT_SID: Type.Optional(Type.String({ description: 'account SID it accepts' })),
  TWILIO_EMULATOR_AUTH_TOKEN: Type.Optional(Type.String({ description: 'auth token it accepts' })),
  TWILIO_EMULATOR_SERVICE_SIDS: Type.String({ default: DEFAULT_SERVICE_SID, pattern: '^VA[0-9a-fA-F]{32}(,VA[0-9a-fA-F]{32})*$', description: 'comma-separated Verify service SIDs that exist' }),
  TWILIO_EMULATOR_LANDLINES: Type.String({ default: '', description: 'comma-separated numbers that cannot take an SMS (60205)' }),
  TWILIO_EMULATOR_BLOCKED_PREFIXES: Type.String({ default: '', description: 'comma-separated prefixes blocked by Fraud Guard (60410)' }),
  TWILIO_EMULATOR_GEO_BLOCKED_PREFIXES: Type.String({ default: '', description: 'comma-separated prefixes disabled by Geo Permissions (60605)' }),
});

const list = (value: string): string[] => value.split(',').map((v) => v.trim()).filter((v) => v !== '');

await runStandalone(
  'twilio-verify-emulator',
  Env,
  (env) =>
    startTwilioVerifyEmulator({
      host: env.TWILIO_EMULATOR_HOST,
      port: env.TWILIO_EMULATOR_PORT,
      codeTtlSeconds: env.TWILIO_EMULATOR_CODE_TTL_SECONDS,
      serviceSids: list(env.TWILIO_EMULATOR_SERVICE_SIDS),
      landlines: list(env.TWILIO_EMULATOR_LANDLINES),
      blockedPrefixes: list(env.TWILIO_EMULATOR_BLOCKED_PREFIXES),
      geoBlockedPrefixes: list(env.TWILIO_EMULATOR_GEO_BLOCKED_PREFIXES),
      credentials:
        env.TWILIO_EMULATOR_ACCOUNT_SID && env.TWILIO_EMULATOR_AUTH_TOKEN
          ? { accountSid: env.TWILIO_EMULATOR_ACCOUNT_SID, authToken: env.TWILIO_EMULATOR_AUTH_TOKEN }
          : undefined,
    }),
  (emulator) => `Twilio Verify emulator listening at ${emulator.url} (sent codes: ${emulator.url}/outbox)`,
  (env) => {
    if ((env.TWILIO_EMULATOR_ACCOUNT_SID === undefined) !== (env.TWILIO_EMULATOR_AUTH_TOKEN === undefined)) {
      throw new ConfigError('TWILIO_EMULATOR_ACCOUNT_SID and TWILIO_EMULATOR_AUTH_TOKEN must be set together');
    }
  },
);
