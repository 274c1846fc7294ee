// The real `npm start` from the repository root, as a developer runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
/** npm, the install check and a tsx start take many seconds on a busy machine. */
const START_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 2 * START_TIMEOUT_MS;

/** The environment of a developer's shell: without the test runner's npm_/pnpm_ variables. */
function shellEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm|pnpm)_/i.test(k)));
  for (const name of ['PORT', 'TWILIO_EMULATOR_PORT', 'PLAID_EMULATOR_PORT', 'NODE_ENV', 'LOG_LEVEL', 'ENV_FILE']) delete env[name];
  return { ...env, ENV_FILE: '/nonexistent/.env', ...extra };
}

interface Run {
  child: ChildProcess;
  out(): string;
  err(): string;
  exited: Promise<number | null>;
}

function npmStart(env: Record<string, string>): Run {
  // Its own process group, as a terminal's foreground job: Ctrl-C is a SIGINT to the whole group.
  const child = spawn('npm', ['start'], { cwd: root, env: shellEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  runs.push(child);
  return { child, out: () => out, err: () => err, exited };
}

async function until(run: Run, text: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!run.out().includes(text) && Date.now() < deadline && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  if (!run.out().includes(text)) throw new Error(`npm start did not print "${text}" within ${START_TIMEOUT_MS} ms:\n${run.out()}\n${run.err()}`);
}

const runs: ChildProcess[] = [];
const servers: Server[] = [];

/** A port something else listens on. */
async function takenPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

afterEach(async () => {
  for (const child of runs.splice(0)) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  for (const server of servers.splice(0)) await new Promise((r) => server.close(r));
});

describe('npm start', () => {
  it('stops on Ctrl-C (SIGINT to the terminal job) gracefully, exits 0, without pnpm noise', async () => {
    const run = npmStart({ PORT: '0', TWILIO_EMULATOR_PORT: '0', PLAID_EMULATOR_PORT: '0', LOG_LEVEL: 'warn' });
    await until(run, 'Ctrl-C stops it.');
    const gateway = /Gateway\s+(http:\/\/\S+)/.exec(run.out())?.[1];
    expect(await (await fetch(`${gateway}/health`)).json()).toEqual({ status: 'ok' });

    process.kill(-run.child.pid!, 'SIGINT');
    expect(await run.exited).toBe(0);
    const all = run.out() + run.err();
    expect(all).toContain('Stopped.');
    expect(all).not.toMatch(/ELIFECYCLE|ERR_PNPM|npm error|npm ERR/);
    expect(run.err()).toBe('');
    await expect(fetch(`${gateway}/health`)).rejects.toThrow();
  }, TEST_TIMEOUT_MS);

  it('a taken gateway port: one clear line and exit 1, no stack trace', async () => {
    const port = await takenPort();
    const run = npmStart({ PORT: String(port), TWILIO_EMULATOR_PORT: '0', PLAID_EMULATOR_PORT: '0' });
    expect(await run.exited).toBe(1);
    expect(run.err().trim()).toBe(`embedded: port ${port} on 127.0.0.1 is taken (another \`npm start\`?): stop that process, or pick another port, e.g. PORT=${port + 1} npm start`);
    expect(run.out()).not.toMatch(/EADDRINUSE|at .*\(/);
  }, TEST_TIMEOUT_MS);

  it('says loudly where the Twilio emulator went when its port is taken', async () => {
    const port = await takenPort();
    const run = npmStart({ PORT: '0', TWILIO_EMULATOR_PORT: String(port), PLAID_EMULATOR_PORT: '0', LOG_LEVEL: 'warn' });
    await until(run, 'Ctrl-C stops it.');
    const line = run.out().split('\n').find((l) => l.includes(`Port ${port} is taken`));
    expect(line, run.out()).toMatch(new RegExp(`^  !! Port ${port} is taken: the Twilio Verify emulator is on (http://127\\.0\\.0\\.1:\\d+) instead`));
    const url = /is on (http:\/\/\S+) instead/.exec(line!)![1]!;
    expect(url).not.toBe(`http://127.0.0.1:${port}`);
    // The URL it names is the outbox's, and the banner's outbox line agrees.
    expect(await (await fetch(`${url}/outbox?to=%2B14155552671`)).json()).toEqual({ messages: [] });
    expect(run.out()).toContain(`SMS outbox     ${url}/outbox`);
    process.kill(-run.child.pid!, 'SIGINT');
    expect(await run.exited).toBe(0);
  }, TEST_TIMEOUT_MS);
});
