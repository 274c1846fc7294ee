import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { CommonEnv, ConfigError, JwtEnv, parseEnv } from '../src/index.ts';

const Schema = Type.Object({ ...CommonEnv, ...JwtEnv, PORT: Type.Integer({ default: 3000 }) });
const base = { NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL: 'redis://127.0.0.1:6379', JWT_PRIVATE_KEYS: '{"keys":[]}' };

describe('parseEnv', () => {
  it('fills defaults and converts numbers', () => {
    const config = parseEnv(Schema, { ...base, PORT: '4000' });
    expect(config.PORT).toBe(4000);
    expect(config.ACCESS_TOKEN_TTL_SECONDS).toBe(86_400);
    expect(config.NODE_ENV).toBe('development');
  });

  it('names a missing variable', () => {
    expect(() => parseEnv(Schema, { ...base, NATS_URL: '' })).toThrow(new ConfigError('NATS_URL is required (NATS server URL(s), comma-separated, e.g. nats://127.0.0.1:4222)'));
  });

  it('names an invalid variable and says what is expected', () => {
    expect(() => parseEnv(Schema, { ...base, REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: '600' })).toThrow(/^REFRESH_TOKEN_REUSE_INTERVAL_SECONDS is invalid/);
    expect(() => parseEnv(Schema, { ...base, PORT: 'abc' })).toThrow(/^PORT is invalid/);
    expect(() => parseEnv(Schema, { ...base, NODE_ENV: 'prod' })).toThrow(/^NODE_ENV is invalid/);
  });
});

describe('loggerOptions', () => {
  it('redacts credentials, tokens and SMS codes but keeps error codes', async () => {
    const { pino } = await import('pino');
    const { loggerOptions } = await import('../src/index.ts');
    const lines: string[] = [];
    const log = pino(loggerOptions('test', 'info'), { write: (line: string) => void lines.push(line) });
    log.info({
      req: { headers: { authorization: 'Bearer secret-jwt' } },
      body: { phone_number: '+1', code: '123456' },
      tokens: { access_token: 'a', refresh_token: 'r' },
      result: { access_token: 'plaid-access' },
      err: { code: 'ECONNREFUSED' },
    }, 'hello');
    const text = lines.join('');
    for (const secret of ['secret-jwt', '123456', '"a"', '"r"', 'plaid-access']) expect(text).not.toContain(secret);
    expect(text).toContain('ECONNREFUSED');
  });
});
