// A private redis-server process (no persistence) for tests that stop or freeze Redis, or need a
// replica — the machine's shared one must not be touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { accepts, freePort } from './ports.ts';

/** Generous: the machine may be busy with other test runs. */
const START_TIMEOUT_MS = 60_000;

export class RedisServerProcess {
  private child: ChildProcess | undefined;
  private output = '';

  /** `args` are redis-server's, e.g. `['--replicaof', '127.0.0.1', '6380']`. */
  constructor(
    readonly port: number,
    private readonly args: string[] = [],
  ) {}

  static async onFreePort(args: string[] = []): Promise<RedisServerProcess> {
    return new RedisServerProcess(await freePort(), args);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it and waits until it accepts connections; fails at once if it exits. */
  async start(): Promise<void> {
    this.output = '';
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.args];
    const child = spawn('redis-server', args, { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child = child;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${this.port}: ${this.output}`);
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
