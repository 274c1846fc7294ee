import { randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, ConfigError, NodeEnv, Port, parseEnv } from '@repo/runtime';

/** What plaid-service needs, whichever way it runs (own process or embedded). */
export const PlaidEnv = Type.Object({
  NODE_ENV: NodeEnv,
  PLAID_CLIENT_ID: Type.Optional(Type.String({ minLength: 1, description: 'Plaid client id (dashboard > Developers > Keys)' })),
  PLAID_SECRET: Type.Optional(Type.String({ minLength: 1, description: 'Plaid secret of the PLAID_ENV environment' })),
  PLAID_ENV: Type.Union([Type.Literal('sandbox'), Type.Literal('production')], { default: 'sandbox', description: 'sandbox | production' }),
  PLAID_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'base URL of a Plaid emulator, e.g. http://127.0.0.1:3020' })),
  PLAID_WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'public URL of POST /api/plaid/webhook, e.g. https://api.example.com/api/plaid/webhook' })),
  PLAID_WEBHOOK_VERIFY: Type.Boolean({ default: true, description: 'verify the Plaid-Verification JWT of every webhook (true | false)' }),
  PLAID_TOKEN_ENCRYPTION_KEY: Type.Optional(Type.String({ description: 'base64 of 32 random bytes (`openssl rand -base64 32`), encrypts Plaid access tokens at rest' })),
  PLAID_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000, description: 'timeout of each call to Plaid, in ms' }),
  PLAID_COUNTRY_CODES: Type.String({ default: 'US', pattern: '^[A-Z]{2}(,[A-Z]{2})*$', description: 'comma-separated country codes for Link, e.g. US,CA' }),
  PLAID_CLIENT_NAME: Type.String({ default: 'Phone Login', minLength: 1, maxLength: 30, description: 'app name shown in Plaid Link' }),
  PLAID_LANGUAGE: Type.String({ default: 'en', pattern: '^[a-z]{2}$', description: 'Link language, e.g. en' }),
  PLAID_TRANSACTIONS_DAYS: Type.Integer({ minimum: 1, maximum: 730, default: 730, description: 'days of transaction history to request at link' }),
  PLAID_SIGNUP_WAIT_MS: Type.Integer({ minimum: 0, maximum: 20_000, default: 8_000, description: 'how long signup waits for the first transactions before answering not_ready, in ms' }),
  PLAID_SANDBOX_INSTITUTION_ID: Type.String({ default: 'ins_109508', description: 'institution of POST /api/plaid/sandbox/public-token when none is given' }),
});
export type PlaidEnvConfig = Static<typeof PlaidEnv>;

export const PlaidServiceEnv = Type.Object({ ...CommonEnv, ...PlaidEnv.properties, PORT: Port(3003) });
export type PlaidServiceEnvConfig = Static<typeof PlaidServiceEnv>;

export interface PlaidSettings {
  clientId: string;
  secret: string;
  env: 'sandbox' | 'production';
  /** Set: the SDK talks to an emulator there. Unset with usesEmulator: the caller must start one and set it. */
  baseUrl: string | undefined;
  usesEmulator: boolean;
  webhookUrl: string | undefined;
  verifyWebhooks: boolean;
  tokenEncryptionKey: Buffer;
  /** No PLAID_TOKEN_ENCRYPTION_KEY: a random key for this process only (fine embedded, with in-memory stores). */
  tokenKeyIsEphemeral: boolean;
  timeoutMs: number;
  countryCodes: string[];
  clientName: string;
  language: string;
  transactionsDays: number;
  signupWaitMs: number;
  sandboxInstitutionId: string;
}

// What the emulator accepts when no credentials are set; not secrets. Must match
// PLAID_EMULATOR_DEFAULT_CLIENT_ID/SECRET of @repo/plaid-emulator (checked in the tests).
export const EMULATOR_CREDENTIALS = { clientId: 'emulator-client-id', secret: 'emulator-secret' };

const KEY_HINT = 'base64 of 32 random bytes, e.g. `openssl rand -base64 32`';

export function parseTokenEncryptionKey(value: string): Buffer {
  const key = Buffer.from(value, 'base64');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value.trim()) || key.length !== 32) {
    throw new ConfigError(`PLAID_TOKEN_ENCRYPTION_KEY must be ${KEY_HINT} (got ${key.length} bytes)`);
  }
  // 32 random bytes have ~30 distinct values; a hand-typed or repeated key has far fewer.
  if (new Set(key).size < 16) throw new ConfigError(`PLAID_TOKEN_ENCRYPTION_KEY is too weak (not random); use ${KEY_HINT}`);
  return key;
}

export function resolvePlaidSettings(env: PlaidEnvConfig): PlaidSettings {
  const given = [env.PLAID_CLIENT_ID, env.PLAID_SECRET].filter((v) => v !== undefined).length;
  if (given === 1) throw new ConfigError('PLAID_CLIENT_ID and PLAID_SECRET must be set together (or neither, to use the Plaid emulator)');
  const usesEmulator = given === 0;
  const production = env.NODE_ENV === 'production';
  if (usesEmulator && env.PLAID_ENV === 'production') {
    throw new ConfigError('PLAID_ENV=production needs PLAID_CLIENT_ID and PLAID_SECRET');
  }
  if (usesEmulator && production && !env.PLAID_BASE_URL) {
    throw new ConfigError('PLAID_CLIENT_ID and PLAID_SECRET are required when NODE_ENV=production (or PLAID_BASE_URL to use an emulator on purpose)');
  }
  if (env.PLAID_TOKEN_ENCRYPTION_KEY === undefined && production) {
    throw new ConfigError(`PLAID_TOKEN_ENCRYPTION_KEY is required when NODE_ENV=production (${KEY_HINT})`);
  }
  if (!env.PLAID_WEBHOOK_VERIFY && production) {
    throw new ConfigError('PLAID_WEBHOOK_VERIFY=false is not allowed when NODE_ENV=production: anyone could trigger webhooks');
  }
  const key = env.PLAID_TOKEN_ENCRYPTION_KEY === undefined ? undefined : parseTokenEncryptionKey(env.PLAID_TOKEN_ENCRYPTION_KEY);
  return {
    clientId: env.PLAID_CLIENT_ID ?? EMULATOR_CREDENTIALS.clientId,
    secret: env.PLAID_SECRET ?? EMULATOR_CREDENTIALS.secret,
    env: env.PLAID_ENV,
    baseUrl: env.PLAID_BASE_URL,
    usesEmulator,
    webhookUrl: env.PLAID_WEBHOOK_URL,
    verifyWebhooks: env.PLAID_WEBHOOK_VERIFY,
    tokenEncryptionKey: key ?? randomBytes(32),
    tokenKeyIsEphemeral: key === undefined,
    timeoutMs: env.PLAID_TIMEOUT_MS,
    countryCodes: env.PLAID_COUNTRY_CODES.split(','),
    clientName: env.PLAID_CLIENT_NAME,
    language: env.PLAID_LANGUAGE,
    transactionsDays: env.PLAID_TRANSACTIONS_DAYS,
    signupWaitMs: env.PLAID_SIGNUP_WAIT_MS,
    sandboxInstitutionId: env.PLAID_SANDBOX_INSTITUTION_ID,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): PlaidServiceEnvConfig {
  return parseEnv(PlaidServiceEnv, env);
}
