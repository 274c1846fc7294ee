// At a terminal in development the embedded system's log is readable lines (pino-pretty); piped,
// it is JSON lines. `script` (util-linux) gives the process a pseudo-terminal as a developer's shell would.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const START_TIMEOUT_MS = 60_000;
const cwd = new URL('..', import.meta.url).pathname;
const env = { PATH: process.env.PATH, PORT: '0', TWILIO_EMULATOR_PORT: '0', PLAID_EMULATOR_PORT: '0', LOG_LEVEL: 'info', ENV_FILE: '/nonexistent/.env' };

/** Runs main until its banner is out, then stops it; returns everything it printed. */
async function startOutput(command: string, args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  const child = spawn(command, args, { cwd, env: { ...env, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.once('close', resolve));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!out.includes('Ctrl-C stops it.') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  expect(out, 'the banner within the start bound').toContain('Ctrl-C stops it.');
  // Ctrl-C, through the terminal (a ^C typed into script's pty) or as a signal.
  if (command === 'script') child.stdin.write('\u0003');
  else child.kill('SIGINT');
  await exited;
  return out;
}

describe('embedded logs', () => {
  it('at a terminal: readable lines, not JSON', async () => {
    const out = await startOutput('script', ['-qec', `${process.execPath} --import tsx src/main.ts`, '/dev/null']);
    expect(out).toMatch(/INFO.*Server listening at http:\/\/127\.0\.0\.1:\d+/);
    expect(out).not.toContain('{"level":');
  }, 2 * START_TIMEOUT_MS);

  it('piped: JSON lines', async () => {
    const out = await startOutput(process.execPath, ['--import', 'tsx', 'src/main.ts']);
    const line = out.split('\n').find((l) => l.includes('Server listening'));
    expect(JSON.parse(line!)).toMatchObject({ level: 30, name: 'embedded', service: 'gateway' });
  }, 2 * START_TIMEOUT_MS);

  it('at a terminal with NODE_ENV=test (or production): JSON lines', async () => {
    const out = await startOutput('script', ['-qec', `${process.execPath} --import tsx src/main.ts`, '/dev/null'], { NODE_ENV: 'test' });
    expect(out).toContain('{"level":30');
  }, 2 * START_TIMEOUT_MS);
});
