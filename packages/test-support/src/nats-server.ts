// A private nats-server process for tests that stop, freeze or restart NATS, or need it configured
// (users, permissions) — the machine's shared one must not be touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { accepts, freePort } from './ports.ts';

/** NATS_SERVER_BIN, or the first nats-server on PATH (or in /usr/sbin, where Debian puts it). */
export const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ??
  [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin'].map((dir) => join(dir, 'nats-server')).find((file) => existsSync(file)) ??
  'nats-server';

/** Generous: the machine may be busy with other test runs. */
const START_TIMEOUT_MS = 60_000;

export class NatsServerProcess {
  private child: ChildProcess | undefined;
  private output = '';

  /** `args` are nats-server's (e.g. `-c <config>`); `env` its environment (a config's `$VARS`). */
  constructor(
    readonly port: number,
    private readonly args: string[] = [],
    private readonly env: NodeJS.ProcessEnv = { PATH: process.env.PATH },
  ) {}

  static async onFreePort(args: string[] = [], env?: NodeJS.ProcessEnv): Promise<NatsServerProcess> {
    return new NatsServerProcess(await freePort(), args, env);
  }

  /** Started and not exited (nor stopped). */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts it and waits until it accepts connections; fails at once if it exits. */
  async start(): Promise<void> {
    this.output = '';
    const child = spawn(NATS_SERVER_BIN, [...this.args, '-a', '127.0.0.1', '-p', String(this.port)], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child = child;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${this.port}: ${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGSTOP: the server keeps its connections open but answers nothing, until `thaw`. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops it with `signal` (SIGKILL after 10 s) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
