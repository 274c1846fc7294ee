import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NatsBus } from '@repo/bus';
import { AppError, PlaidSubjects } from '@repo/contracts';

const server = fileURLToPath(new URL('../src/server.ts', import.meta.url));

function start(env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', server], { env: processEnv(env), encoding: 'utf8', timeout: 20_000 });
}

function processEnv(env: Record<string, string>) {
  const { PATH, HOME } = process.env;
  return { PATH, HOME, NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL: 'redis://127.0.0.1:6379', LOG_LEVEL: 'silent', PORT: '0', HOST: '127.0.0.1', ...env };
}

describe('plaid-service as its own process', () => {
  it('refuses to start without PLAID_TOKEN_ENCRYPTION_KEY, with one line saying how to set it', () => {
    const run = start({});
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe(
      'plaid-service: configuration error: PLAID_TOKEN_ENCRYPTION_KEY is required when plaid-service runs as its own process; set it to `openssl rand -base64 32` (the same value for every replica)',
    );
  });

  it('refuses a key that is not 32 bytes', () => {
    const run = start({ PLAID_TOKEN_ENCRYPTION_KEY: randomBytes(24).toString('base64') });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^plaid-service: configuration error: PLAID_TOKEN_ENCRYPTION_KEY must be base64 of 32 random bytes.*\(got 24 bytes\)\n$/);
  });

  it('serves plaid.* over NATS with the Redis store, and answers PLAID_UNAVAILABLE when Plaid is unreachable', async () => {
    const prefix = `test-${randomUUID().slice(0, 8)}.`;
    const child = spawn(process.execPath, ['--import', 'tsx', server], {
      env: processEnv({
        NATS_SUBJECT_PREFIX: prefix,
        REDIS_KEY_PREFIX: `test:${prefix}`,
        PLAID_TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        PLAID_BASE_URL: 'http://127.0.0.1:1',
        PLAID_TIMEOUT_MS: '1000',
      }),
      stdio: 'ignore',
    });
    const log = { info: () => {}, warn: () => {}, error: () => {}, child: () => log };
    const bus = await NatsBus.connect({ url: 'nats://127.0.0.1:4222', name: 'plaid-service-test', subjectPrefix: prefix, log, requestTimeoutMs: 3_000 });
    try {
      const user = '+14155552671';
      let listed: unknown;
      // Until the process is up: generous, a busy machine may take long to start it.
      const deadline = Date.now() + 60_000;
      while (listed === undefined && Date.now() < deadline) {
        listed = await bus.request(PlaidSubjects.listTransactions, { user, count: 10 }).catch(async (err: AppError) => {
          expect(err.code).toBe('SERVICE_UNAVAILABLE');
          await new Promise((r) => setTimeout(r, 100));
          return undefined;
        });
      }
      expect(listed).toEqual({ transactions: [], total: 0, next_cursor: null, not_ready_item_ids: [], items_needing_attention: [] });
      await expect(bus.request(PlaidSubjects.createLinkToken, { user })).rejects.toMatchObject({ code: 'PLAID_UNAVAILABLE', statusCode: 503 });
    } finally {
      await bus.close();
      child.kill('SIGTERM');
    }
  }, 90_000);
});
