// A private nats-server for the distributed suite, started with the repo's deploy/nats config, so
// the suite runs with the permissions a deployment has (and never on the shared NATS).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';

/** NATS_SERVER_BIN, or the first nats-server on PATH (or in /usr/sbin, where Debian puts it). */
export const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ??
  [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin'].map((dir) => join(dir, 'nats-server')).find((file) => existsSync(file)) ??
  'nats-server';
const CONFIG = fileURLToPath(new URL('../../../deploy/nats/nats-server.conf', import.meta.url));

export const NATS_USERS = ['gateway', 'auth-service', 'token-service', 'plaid-service'] as const;
export type NatsUser = (typeof NATS_USERS)[number];

/** The environment variable deploy/nats/nats-server.conf reads a user's password from. */
export function passwordVariable(user: NatsUser): string {
  return `NATS_${user.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
}

export async function natsServerAvailable(): Promise<boolean> {
  return access(NATS_SERVER_BIN).then(
    () => true,
    () => false,
  );
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

export class ConfiguredNatsServer {
  readonly passwords: Record<NatsUser, string>;
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(readonly port: number) {
    this.passwords = Object.fromEntries(NATS_USERS.map((u) => [u, `pw-${randomBytes(18).toString('hex')}`])) as Record<NatsUser, string>;
  }

  static async start(): Promise<ConfiguredNatsServer> {
    const server = new ConfiguredNatsServer(await freePort());
    await server.start();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** NATS_URL, NATS_USER and NATS_PASSWORD for one service. */
  envFor(user: NatsUser): Record<string, string> {
    return { NATS_URL: this.url, NATS_USER: user, NATS_PASSWORD: this.passwords[user] };
  }

  async start(): Promise<void> {
    this.output = '';
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const user of NATS_USERS) env[passwordVariable(user)] = this.passwords[user];
    const child = spawn(NATS_SERVER_BIN, ['-c', CONFIG, '-a', '127.0.0.1', '-p', String(this.port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child = child;
    // Generous: the machine may be busy.
    const deadline = Date.now() + 60_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${this.port}: ${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGSTOP: the server keeps its connections open but answers nothing. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
