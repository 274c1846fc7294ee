import { describe, expect, it } from 'vitest';
import { ConfigError } from '@repo/runtime';
import { generatePrivateJwk } from '@repo/tokens';
import { startEmbedded } from '../src/start-embedded.ts';

const base = { PATH: process.env.PATH, PORT: '0', TWILIO_EMULATOR_PORT: '0', PLAID_EMULATOR_PORT: '0', LOG_LEVEL: 'silent' };

describe('the embedded system in production', () => {
  it('refuses to start without JWT_PRIVATE_KEYS instead of signing with a per-process key', async () => {
    for (const JWT_PRIVATE_KEYS of [undefined, '']) {
      const err = await startEmbedded({ ...base, NODE_ENV: 'production', ...(JWT_PRIVATE_KEYS === undefined ? {} : { JWT_PRIVATE_KEYS }) }).then(
        (system) => system.close().then(() => new Error('it started')),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/^JWT_PRIVATE_KEYS is required when NODE_ENV=production/);
    }
  });

  it('with JWT_PRIVATE_KEYS gets past the key check (and on to the next production rule)', async () => {
    const err = await startEmbedded({ ...base, NODE_ENV: 'production', JWT_PRIVATE_KEYS: JSON.stringify({ keys: [generatePrivateJwk()] }) }).then(
      (system) => system.close().then(() => new Error('it started')),
      (e: unknown) => e,
    );
    // No Twilio credentials: refused too, but not for the key.
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toMatch(/JWT_PRIVATE_KEYS/);
    expect((err as Error).message).toMatch(/TWILIO_/);
  });

  it('outside production still starts with a per-process key', async () => {
    const system = await startEmbedded({ ...base, NODE_ENV: 'test' });
    try {
      expect(await (await fetch(`${system.url}/health`)).json()).toEqual({ status: 'ok' });
    } finally {
      await system.close();
    }
  }, 60_000);
});
