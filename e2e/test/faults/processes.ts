// Processes of the fault-injection suite: a private redis-server, and service processes that can
// be stopped with SIGTERM or killed with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../support/ports.ts';
import { SERVICE_COMMAND } from '../support/deployables.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** Generous: the machine may be busy with other test runs. */
const START_TIMEOUT_MS = 120_000;

export class Proc {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly name: string,
    private readonly command: string[],
    private readonly cwd: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly isUp: () => Promise<boolean>,
  ) {}

  static service(name: string, dir: string, env: NodeJS.ProcessEnv, readyUrl: string): Proc {
    return new Proc(name, [process.execPath, ...SERVICE_COMMAND], `${repoRoot}${dir}`, env, async () => {
      const res = await fetch(readyUrl, { signal: AbortSignal.timeout(2_000) });
      return res.ok;
    });
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return this.output;
  }

  async start(): Promise<void> {
    this.output = '';
    const [bin, ...args] = this.command;
    const child = spawn(bin!, args, { cwd: this.cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child = child;
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}`);
          return this.isUp();
        },
        `${this.name} to be ready`,
        START_TIMEOUT_MS,
      );
    } catch (err) {
      throw new Error(`${this.name} did not start: ${(err as Error).message}\n${this.output.slice(-4000)}`);
    }
  }

  /** SIGSTOP: the process keeps its sockets open but answers nothing, until `thaw`. */
  freeze(): void {
    if (this.running) this.child!.kill('SIGSTOP');
  }

  thaw(): void {
    if (this.running) this.child!.kill('SIGCONT');
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // A frozen process needs SIGCONT to act on SIGTERM; SIGKILL takes it as it is (a frozen
    // replica killed this way never answers what it holds).
    if (signal !== 'SIGKILL') child.kill('SIGCONT');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
