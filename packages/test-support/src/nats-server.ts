// A private nats-server process for tests that stop, freeze or restart NATS, or need it configured
// (users, permissions) — the machine's shared one must not be touched.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from './ports.ts';
import { ServerProcess } from './server-process.ts';

/** NATS_SERVER_BIN, or the first nats-server on PATH (or in /usr/sbin, where Debian puts it). */
export const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ??
  [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin'].map((dir) => join(dir, 'nats-server')).find((file) => existsSync(file)) ??
  'nats-server';

export class NatsServerProcess extends ServerProcess {
  /** `args` are nats-server's (e.g. `-c <config>`); `env` its environment (a config's `$VARS`). */
  constructor(
    port: number,
    private readonly args: string[] = [],
    private readonly env: NodeJS.ProcessEnv = { PATH: process.env.PATH },
  ) {
    super(port);
  }

  static async onFreePort(args: string[] = [], env?: NodeJS.ProcessEnv): Promise<NatsServerProcess> {
    return new NatsServerProcess(await freePort(), args, env);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  protected command() {
    return { name: 'nats-server', bin: NATS_SERVER_BIN, args: [...this.args, '-a', '127.0.0.1', '-p', String(this.port)], env: this.env };
  }
}
