import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** A tsx start takes seconds on a busy machine (another test run at the same time). */
const START_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 2 * START_TIMEOUT_MS;

describe('pnpm start (the embedded default)', () => {
  it('prints the gateway, demo page, outbox and Plaid emulator URLs and an example, serves requests, and stops cleanly on Ctrl-C', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { PATH: process.env.PATH, ENV_FILE: '/nonexistent/.env', PORT: '0', TWILIO_EMULATOR_PORT: '0', PLAID_EMULATOR_PORT: '0', LOG_LEVEL: 'warn', CORS_ORIGINS: 'http://localhost:5173' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!out.includes('Ctrl-C') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('Ctrl-C stops it.');
    const gateway = /Gateway\s+(http:\/\/\S+)/.exec(out)?.[1];
    const outbox = /SMS outbox\s+(http:\/\/\S+)/.exec(out)?.[1];
    expect(gateway).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(outbox).toMatch(/\/outbox\?to=/);
    const plaidEmulator = /Plaid emulator\s+(http:\/\/\S+)/.exec(out)?.[1];
    expect(plaidEmulator).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out).toContain(`curl -s -X POST ${gateway}/api/auth/send-verification`);
    expect(out).toContain(`npm run try -- --api ${gateway}`);
    const demo = /Demo page\s+(http:\/\/\S+)/.exec(out)?.[1];
    expect(demo).toBe(`${gateway}/demo`);
    expect((await fetch(demo!)).status).toBe(200);
    expect(await (await fetch(`${gateway}/demo/config.json`)).json()).toEqual({ outbox_url: '/demo/outbox' });

    // CORS_ORIGINS reaches the gateway.
    const health = await fetch(`${gateway}/health`, { headers: { origin: 'http://localhost:5173' } });
    expect(health.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(await health.json()).toEqual({ status: 'ok' });
    const outboxRes = await fetch(outbox!);
    expect(await outboxRes.json()).toEqual({ messages: [] });
    expect(await (await fetch(`${plaidEmulator}/health`)).json()).toEqual({ status: 'ok' });

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(`${gateway}/health`)).rejects.toThrow();
    await expect(fetch(`${plaidEmulator}/health`)).rejects.toThrow();
  }, TEST_TIMEOUT_MS);

  it('refuses to start with one clear line when the configuration is wrong', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { PATH: process.env.PATH, ENV_FILE: '/nonexistent/.env', PORT: 'abc' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(err.trim()).toMatch(/^embedded: configuration error: PORT is invalid/);
    expect(err.trim().split('\n')).toHaveLength(1);
  }, TEST_TIMEOUT_MS);

  it('refuses a bad CORS_ORIGINS with one line naming it', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { PATH: process.env.PATH, PORT: '0', TWILIO_EMULATOR_PORT: '0', PLAID_EMULATOR_PORT: '0', CORS_ORIGINS: 'http://localhost:5173/app' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(err.trim()).toMatch(/^embedded: configuration error: CORS_ORIGINS is invalid at "http:\/\/localhost:5173\/app"/);
    expect(err.trim().split('\n')).toHaveLength(1);
  }, TEST_TIMEOUT_MS);

  it('refuses NODE_ENV=production without JWT_PRIVATE_KEYS with one line naming it', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { PATH: process.env.PATH, ENV_FILE: '/nonexistent/.env', NODE_ENV: 'production', PORT: '0', TWILIO_EMULATOR_PORT: '0', PLAID_EMULATOR_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(err.trim()).toMatch(/^embedded: configuration error: JWT_PRIVATE_KEYS is required when NODE_ENV=production/);
    expect(err.trim().split('\n')).toHaveLength(1);
  }, TEST_TIMEOUT_MS);
});
