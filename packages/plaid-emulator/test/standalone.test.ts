// `pnpm --filter @repo/plaid-emulator start`: the process, as compose and the distributed e2e run it.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, out: () => out, err: () => err };
}

/** A tsx start takes seconds on a busy machine (another test run at the same time). */
const START_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 2 * START_TIMEOUT_MS;

describe('the standalone emulator process', () => {
  it('prints its URL, serves, and exits 0 on SIGTERM', async () => {
    const p = run({ PLAID_EMULATOR_PORT: '0' });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!/listening at/.test(p.out()) && Date.now() < deadline && p.child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    const url = /listening at (http:\/\/\S+)/.exec(p.out())?.[1];
    expect(url, `no "listening at" within ${START_TIMEOUT_MS / 1000} s: ${p.err()}`).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${url}/health`)).json()).toEqual({ status: 'ok' });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('refuses half-given credentials with one line and exit 1', async () => {
    const p = run({ PLAID_EMULATOR_CLIENT_ID: 'only-the-id' });
    expect(await p.exited).toBe(1);
    expect(p.err().trim()).toBe('plaid-emulator: configuration error: PLAID_EMULATOR_CLIENT_ID and PLAID_EMULATOR_SECRET must be set together');
  }, TEST_TIMEOUT_MS);
});
