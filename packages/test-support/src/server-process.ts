// What the private server processes of the tests share (nats-server, redis-server): start and wait
// until the port accepts connections, freeze and thaw, stop and wait for the exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { accepts } from './ports.ts';

/** Generous: the machine may be busy with other test runs. */
const START_TIMEOUT_MS = 60_000;

export abstract class ServerProcess {
  protected child: ChildProcess | undefined;
  private output = '';

  constructor(readonly port: number) {}

  /** The program and its arguments, as the next start runs them. */
  protected abstract command(): { name: string; bin: string; args: string[]; env: NodeJS.ProcessEnv };

  /** Started and not exited (nor stopped). */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts it and waits until it accepts connections; fails at once if it exits. */
  async start(): Promise<void> {
    this.output = '';
    const { name, bin, args, env } = this.command();
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child = child;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`${name} did not listen on ${this.port}: ${this.output}`);
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
