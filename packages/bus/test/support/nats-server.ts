// A private nats-server for tests that stop, freeze or restart NATS (the shared one must not be touched).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createServer, connect as tcpConnect } from 'node:net';

/** NATS_SERVER_BIN, or the first nats-server on PATH (or in /usr/sbin, where Debian puts it). */
export const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ??
  [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin'].map((dir) => join(dir, 'nats-server')).find((file) => existsSync(file)) ??
  'nats-server';

/**
 * A port for a child process to listen on. Picked below Linux's ephemeral range (32768-60999), so
 * an outgoing connection of another process cannot take it between this check and the child's
 * listen, and at random, so two test runs at once are unlikely to pick the same one.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class PrivateNatsServer {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(readonly port: number, private readonly args: string[]) {}

  static async create(args: string[] = []): Promise<PrivateNatsServer> {
    return new PrivateNatsServer(await freePort(), args);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts it and waits (generously: the machine may be busy) until it accepts connections. */
  async start(): Promise<void> {
    this.output = '';
    const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(this.port), ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child = child;
    const deadline = Date.now() + 60_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${this.port}: ${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }
}
