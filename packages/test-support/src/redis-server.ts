// A private redis-server process (no persistence) for tests that stop or freeze Redis, or need a
// replica — the machine's shared one must not be touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
    /** A sentinel's config file: then it runs as a sentinel. */
    private readonly sentinelConfig?: string,
  ) {}

  static async onFreePort(args: string[] = []): Promise<RedisServerProcess> {
    return new RedisServerProcess(await freePort(), args);
  }

  /** A sentinel (redis-server --sentinel) watching the primary on `primaryPort` as `name`, quick to fail over. */
  static async sentinel(name: string, primaryPort: number, quorum = 1): Promise<RedisServerProcess> {
    // Sentinel rewrites its config file with what it learns: each gets its own.
    const file = join(mkdtempSync(join(tmpdir(), 'sentinel-')), 'sentinel.conf');
    writeFileSync(
      file,
      [`sentinel monitor ${name} 127.0.0.1 ${primaryPort} ${quorum}`, `sentinel down-after-milliseconds ${name} 1000`, `sentinel failover-timeout ${name} 10000`, ''].join('\n'),
    );
    return new RedisServerProcess(await freePort(), [], file);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it and waits until it accepts connections; fails at once if it exits. */
  async start(): Promise<void> {
    this.output = '';
    const args = this.sentinelConfig
      ? [this.sentinelConfig, '--sentinel', '--port', String(this.port), '--bind', '127.0.0.1', ...this.args]
      : ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.args];
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
    if (this.sentinelConfig) child.once('exit', () => rmSync(dirname(this.sentinelConfig!), { recursive: true, force: true }));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
