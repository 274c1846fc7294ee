import { Type, type Static } from '@sinclair/typebox';
import { isPhoneNumberCountry, normalizePhoneNumber } from '@repo/contracts';
import { CommonEnv, ConfigError, NodeEnv, Port, parseEnv } from '@repo/runtime';
import type { GuessPolicy, SendPolicy } from '@repo/stores';

/** What auth-service needs, whichever way it runs (own process or embedded). */
export const AuthEnv = Type.Object({
  NODE_ENV: NodeEnv,
  TWILIO_ACCOUNT_SID: Type.Optional(Type.String({ pattern: '^AC[0-9a-fA-F]{32}$', description: 'Twilio account SID, AC followed by 32 hex characters' })),
  TWILIO_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 1, description: 'Twilio auth token' })),
  TWILIO_VERIFY_SERVICE_SID: Type.Optional(Type.String({ pattern: '^VA[0-9a-fA-F]{32}$', description: 'Twilio Verify service SID, VA followed by 32 hex characters' })),
  TWILIO_VERIFY_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'base URL of a Twilio Verify emulator, e.g. http://127.0.0.1:3010' })),
  TWILIO_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 5_000, description: 'timeout of each call to Twilio, in ms' }),
  TEST_PHONE_NUMBERS: Type.Optional(Type.String({ description: 'comma-separated number:code pairs (codes of 6-10 digits) that never reach Twilio, e.g. +15005550006:123456' })),
  ALLOW_TEST_PHONE_NUMBERS_IN_PRODUCTION: Type.Boolean({ default: false, description: 'true to accept TEST_PHONE_NUMBERS when NODE_ENV=production (app-store review)' }),
  SMS_MIN_INTERVAL_SECONDS: Type.Integer({ minimum: 0, maximum: 3_600, default: 60, description: 'seconds between two codes to one phone number; 0 for no minimum' }),
  SMS_HOURLY_BUDGET: Type.Integer({ minimum: 1, default: 1_000, description: 'codes sent per clock hour, all phone numbers together' }),
  SMS_ALLOWED_COUNTRIES: Type.Optional(Type.String({ description: 'comma-separated ISO 3166-1 alpha-2 codes of the countries codes may be sent to, e.g. US,CA; unset: all' })),
  VERIFICATION_MAX_WRONG_CODES: Type.Integer({ minimum: 1, default: 10, description: 'wrong codes per phone number, across codes, before it is locked' }),
  VERIFICATION_LOCKOUT_SECONDS: Type.Integer({ minimum: 1, default: 3_600, description: 'the wrong-code window, from the first wrong code; a locked number waits until it ends' }),
});

export const AuthServiceEnv = Type.Object({ ...CommonEnv, ...AuthEnv.properties, PORT: Port(3001) });
export type AuthServiceEnvConfig = Static<typeof AuthServiceEnv>;

// The emulator accepts these; they are not secrets.
export const EMULATOR_CREDENTIALS = {
  accountSid: 'AC00000000000000000000000000000000',
  authToken: 'emulator-auth-token',
  serviceSid: 'VA00000000000000000000000000000000',
};

export interface TwilioSettings {
  accountSid: string;
  authToken: string;
  serviceSid: string;
  /** Set: the SDK is pointed at an emulator there. Unset: Twilio itself. */
  baseUrl: string | undefined;
  timeoutMs: number;
}

/** The abuse limits auth-service enforces (in its store, so they hold across replicas). */
export interface VerificationPolicy {
  send: SendPolicy;
  guesses: GuessPolicy;
  /** Unset: codes go to every country. */
  allowedCountries: ReadonlySet<string> | undefined;
}

export interface AuthSettings {
  /** `emulator` without credentials and base URL: the caller must start an emulator and set baseUrl. */
  twilio: TwilioSettings;
  usesEmulator: boolean;
  testPhoneNumbers: Map<string, string>;
  policy: VerificationPolicy;
}

export function resolveAuthSettings(env: Static<typeof AuthEnv>): AuthSettings {
  const creds = [env.TWILIO_ACCOUNT_SID, env.TWILIO_AUTH_TOKEN, env.TWILIO_VERIFY_SERVICE_SID];
  const given = creds.filter((c) => c !== undefined).length;
  if (given !== 0 && given !== 3) {
    throw new ConfigError('TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_VERIFY_SERVICE_SID must be set together (or none, to use the emulator)');
  }
  const usesEmulator = given === 0;
  if (usesEmulator && env.NODE_ENV === 'production') {
    throw new ConfigError('TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_VERIFY_SERVICE_SID are required when NODE_ENV=production (no SMS would reach anyone)');
  }
  const testPhoneNumbers = parseTestPhoneNumbers(env.TEST_PHONE_NUMBERS);
  if (testPhoneNumbers.size > 0 && env.NODE_ENV === 'production' && !env.ALLOW_TEST_PHONE_NUMBERS_IN_PRODUCTION) {
    throw new ConfigError('TEST_PHONE_NUMBERS is set while NODE_ENV=production; set ALLOW_TEST_PHONE_NUMBERS_IN_PRODUCTION=true if that is intended (e.g. for app-store review)');
  }
  return {
    usesEmulator,
    testPhoneNumbers,
    policy: {
      send: { minIntervalSeconds: env.SMS_MIN_INTERVAL_SECONDS, hourlyBudget: env.SMS_HOURLY_BUDGET },
      guesses: { maxWrongCodes: env.VERIFICATION_MAX_WRONG_CODES, windowSeconds: env.VERIFICATION_LOCKOUT_SECONDS },
      allowedCountries: parseAllowedCountries(env.SMS_ALLOWED_COUNTRIES),
    },
    twilio: {
      accountSid: env.TWILIO_ACCOUNT_SID ?? EMULATOR_CREDENTIALS.accountSid,
      authToken: env.TWILIO_AUTH_TOKEN ?? EMULATOR_CREDENTIALS.authToken,
      serviceSid: env.TWILIO_VERIFY_SERVICE_SID ?? EMULATOR_CREDENTIALS.serviceSid,
      baseUrl: env.TWILIO_VERIFY_BASE_URL,
      timeoutMs: env.TWILIO_TIMEOUT_MS,
    },
  };
}

export function parseTestPhoneNumbers(value: string | undefined): Map<string, string> {
  const numbers = new Map<string, string>();
  for (const entry of (value ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const match = /^(.+):(\d+)$/.exec(entry);
    let phone: string | undefined;
    try {
      phone = match?.[1] ? normalizePhoneNumber(match[1]) : undefined;
    } catch {
      phone = undefined;
    }
    if (!match || !phone) {
      throw new ConfigError(`TEST_PHONE_NUMBERS is invalid at "${entry.split(':')[0]}": expected +E164:code with a 6-10 digit code, e.g. +15005550006:123456`);
    }
    const code = match[2]!;
    // As long as Twilio's codes: a fixed code is guessed under the same budget as a real one.
    if (code.length < 6 || code.length > 10) {
      throw new ConfigError(`TEST_PHONE_NUMBERS: the code of ${phone} has ${code.length} digits; test codes need 6-10 digits so they cannot be guessed`);
    }
    numbers.set(phone, code);
  }
  return numbers;
}

export function parseAllowedCountries(value: string | undefined): ReadonlySet<string> | undefined {
  const codes = (value ?? '').split(',').map((c) => c.trim().toUpperCase()).filter(Boolean);
  if (codes.length === 0) return undefined;
  const unknown = codes.find((c) => !isPhoneNumberCountry(c));
  if (unknown !== undefined) {
    throw new ConfigError(`SMS_ALLOWED_COUNTRIES is invalid at "${unknown}": expected ISO 3166-1 alpha-2 country codes, comma-separated, e.g. US,CA,GB`);
  }
  return new Set(codes);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AuthServiceEnvConfig {
  return parseEnv(AuthServiceEnv, env);
}
