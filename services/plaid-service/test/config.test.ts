import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseEnv } from '@repo/runtime';
import { PLAID_EMULATOR_DEFAULT_CLIENT_ID, PLAID_EMULATOR_DEFAULT_SECRET } from '@repo/plaid-emulator';
import { EMULATOR_CREDENTIALS, PlaidEnv, resolvePlaidSettings } from '../src/config.ts';

const KEY = randomBytes(32).toString('base64');
const resolve = (env: Record<string, string>) => resolvePlaidSettings(parseEnv(PlaidEnv, env));
const configError = (env: Record<string, string>) => {
  try {
    resolve(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('resolvePlaidSettings', () => {
  it('defaults to the credentials the standalone emulator accepts', () => {
    expect(EMULATOR_CREDENTIALS).toEqual({ clientId: PLAID_EMULATOR_DEFAULT_CLIENT_ID, secret: PLAID_EMULATOR_DEFAULT_SECRET });
  });

  it('without credentials uses the emulator, sandbox, and an ephemeral key', () => {
    const s = resolve({});
    expect(s).toMatchObject({ usesEmulator: true, env: 'sandbox', baseUrl: undefined, verifyWebhooks: true, tokenKeyIsEphemeral: true, countryCodes: ['US'] });
    expect(s.tokenEncryptionKey).toHaveLength(32);
  });

  it('with credentials uses Plaid and the given key', () => {
    const s = resolve({ PLAID_CLIENT_ID: 'cid', PLAID_SECRET: 'sec', PLAID_ENV: 'production', PLAID_TOKEN_ENCRYPTION_KEY: KEY, PLAID_COUNTRY_CODES: 'US,CA' });
    expect(s).toMatchObject({ usesEmulator: false, env: 'production', clientId: 'cid', secret: 'sec', tokenKeyIsEphemeral: false, countryCodes: ['US', 'CA'] });
    expect(s.tokenEncryptionKey.toString('base64')).toBe(KEY);
  });

  it('names the variable when the setup is incomplete or unsafe', () => {
    expect(configError({ PLAID_CLIENT_ID: 'cid' })).toMatch(/PLAID_CLIENT_ID and PLAID_SECRET must be set together/);
    expect(configError({ PLAID_ENV: 'production' })).toMatch(/PLAID_ENV=production needs PLAID_CLIENT_ID/);
    expect(configError({ NODE_ENV: 'production', PLAID_CLIENT_ID: 'c', PLAID_SECRET: 's' })).toMatch(/PLAID_TOKEN_ENCRYPTION_KEY is required when NODE_ENV=production/);
    expect(configError({ NODE_ENV: 'production', PLAID_CLIENT_ID: 'c', PLAID_SECRET: 's', PLAID_TOKEN_ENCRYPTION_KEY: KEY, PLAID_WEBHOOK_VERIFY: 'false' })).toMatch(
      /PLAID_WEBHOOK_VERIFY=false is not allowed/,
    );
  });

  it('refuses a key that is not 32 bytes of base64, or not random', () => {
    expect(configError({ PLAID_TOKEN_ENCRYPTION_KEY: randomBytes(16).toString('base64') })).toMatch(/PLAID_TOKEN_ENCRYPTION_KEY must be base64 of 32 random bytes.*\(got 16 bytes\)/);
    expect(configError({ PLAID_TOKEN_ENCRYPTION_KEY: 'correct horse battery staple!!!' })).toMatch(/PLAID_TOKEN_ENCRYPTION_KEY must be/);
    expect(configError({ PLAID_TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') })).toMatch(/too weak/);
  });
});
