import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NatsBus } from '@repo/bus';
import { AppError, PlaidSubjects } from '@repo/contracts';

const server = fileURLToPath(new URL('../src/server.ts', import.meta.url));
/** A tsx start takes seconds on a busy machine (another test run at the same time). */
const START_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 2 * START_TIMEOUT_MS;

function start(env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', server], { env: processEnv(env), encoding: 'utf8', timeout: START_TIMEOUT_MS });
}

/** Why a spawnSync run did not exit as expected: killed after the timeout, or its stderr. */
const why = (run: ReturnType<typeof start>) => (run.error ? `${run.error.message} (signal ${run.signal})` : run.stderr);

function processEnv(env: Record<string, string>) {
  const { PATH, HOME } = process.env;
  return { PATH, HOME, NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL: 'redis://127.0.0.1:6379', LOG_LEVEL: 'silent', PORT: '0', HOST: '127.0.0.1', ...env };
}

describe('plaid-service as its own process', () => {
  it('refuses to start without PLAID_TOKEN_ENCRYPTION_KEY, with one line saying how to set it', () => {
    const run = start({});
    expect(run.status, why(run)).toBe(1);
    expect(run.stderr.trim()).toBe(
      'plaid-service: configuration error: PLAID_TOKEN_ENCRYPTION_KEY is required when plaid-service runs as its own process; set it to `openssl rand -base64 32` (the same value for every replica)',
    );
  }, TEST_TIMEOUT_MS);

  it('refuses a key that is not 32 bytes', () => {
    const run = start({ PLAID_TOKEN_ENCRYPTION_KEY: randomBytes(24).toString('base64') });
    expect(run.status, why(run)).toBe(1);
    expect(run.stderr).toMatch(/^plaid-service: configuration error: PLAID_TOKEN_ENCRYPTION_KEY must be base64 of 32 random bytes.*\(got 24 bytes\)\n$/);
  }, TEST_TIMEOUT_MS);

  it('refuses to start without Plaid credentials and without PLAID_BASE_URL (it runs no emulator itself)', () => {
    const run = start({ PLAID_TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') });
    expect(run.status, why(run)).toBe(1);
    expect(run.stderr.trim()).toBe(
      'plaid-service: configuration error: PLAID_CLIENT_ID and PLAID_SECRET are required when plaid-service runs as its own process, or PLAID_BASE_URL to use a Plaid emulator (e.g. http://127.0.0.1:3011)',
    );
  }, TEST_TIMEOUT_MS);

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
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (listed === undefined && Date.now() < deadline) {
        listed = await bus.request(PlaidSubjects.listTransactions, { user, count: 10 }).catch(async (err: AppError) => {
          expect(err.code).toBe('SERVICE_UNAVAILABLE');
          await new Promise((r) => setTimeout(r, 100));
          return undefined;
        });
      }
      expect(listed, `plaid-service did not answer within ${START_TIMEOUT_MS / 1000} s`).toEqual({ transactions: [], total: 0, next_cursor: null, not_ready_item_ids: [], items_needing_attention: [] });
      await expect(bus.request(PlaidSubjects.createLinkToken, { user })).rejects.toMatchObject({ code: 'PLAID_UNAVAILABLE', statusCode: 503 });
    } finally {
      await bus.close();
      child.kill('SIGTERM');
    }
  }, TEST_TIMEOUT_MS);
});
