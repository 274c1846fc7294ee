import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const server = fileURLToPath(new URL('../src/server.ts', import.meta.url));
/** A tsx start takes seconds on a busy machine (another test run at the same time). */
const START_TIMEOUT_MS = 60_000;

describe('auth-service as its own process', () => {
  it('refuses to start without Twilio credentials and without TWILIO_VERIFY_BASE_URL (it runs no emulator itself)', () => {
    const { PATH, HOME } = process.env;
    const run = spawnSync(process.execPath, ['--import', 'tsx', server], {
      env: { PATH, HOME, NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL: 'redis://127.0.0.1:6379', LOG_LEVEL: 'silent', PORT: '0' },
      encoding: 'utf8',
      timeout: START_TIMEOUT_MS,
    });
    expect(run.status, run.error ? `${run.error.message} (signal ${run.signal})` : run.stderr).toBe(1);
    expect(run.stderr.trim()).toBe(
      'auth-service: configuration error: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_VERIFY_SERVICE_SID are required when auth-service runs as its own process, or TWILIO_VERIFY_BASE_URL to use a Twilio Verify emulator (e.g. http://127.0.0.1:3010)',
    );
  }, 2 * START_TIMEOUT_MS);
});
