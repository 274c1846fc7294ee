import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadDotEnv } from '../src/dotenv.ts';

const START_TIMEOUT_MS = 60_000;

function envFile(content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'embedded-dotenv-')), '.env');
  writeFileSync(file, content);
  return file;
}

describe('.env for npm start', () => {
  it('sets what the environment does not, and the environment wins', () => {
    const file = envFile('# comment\nLOG_LEVEL=debug\nPORT=4000\nQUOTED="a b"\n');
    const env: NodeJS.ProcessEnv = { PORT: '0' };
    expect(loadDotEnv(pathToFileURL(file), env)).toEqual({ loaded: 2 });
    expect(env).toEqual({ PORT: '0', LOG_LEVEL: 'debug', QUOTED: 'a b' });
  });

  it('no file: nothing changes', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(loadDotEnv(pathToFileURL('/nonexistent/.env'), env)).toEqual({ loaded: 0 });
    expect(env).toEqual({});
  });

  it('main reads it: a bad value from .env stops the start with the line naming it', async () => {
    const file = envFile('PORT=abc\n');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { PATH: process.env.PATH, ENV_FILE: file },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(err.trim()).toMatch(/^embedded: configuration error: PORT is invalid/);
  }, START_TIMEOUT_MS);

  it('main reads it: the banner counts the variables taken from it', async () => {
    const file = envFile('PORT=abc\nSMS_MIN_INTERVAL_SECONDS=0\n');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      // PORT from the environment wins over the file's bad one.
      env: { PATH: process.env.PATH, ENV_FILE: file, PORT: '0', TWILIO_EMULATOR_PORT: '0', PLAID_EMULATOR_PORT: '0', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!out.includes('Ctrl-C') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('Settings       1 from .env (variables already set in the environment win)');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 2 * START_TIMEOUT_MS);
});
