// A private nats-server for the distributed suite, started with the repo's deploy/nats config, so
// the suite runs with the permissions a deployment has (and never on the shared NATS).
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { NATS_SERVER_BIN, NatsServerProcess } from '@repo/test-support';

export { NATS_SERVER_BIN };

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

export class ConfiguredNatsServer {
  private constructor(
    private readonly server: NatsServerProcess,
    /** Each service's password; they start with a letter, as nats-server parses `$VARS` like config values. */
    readonly passwords: Record<NatsUser, string>,
  ) {}

  static async start(): Promise<ConfiguredNatsServer> {
    const passwords = Object.fromEntries(NATS_USERS.map((u) => [u, `pw-${randomBytes(18).toString('hex')}`])) as Record<NatsUser, string>;
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const user of NATS_USERS) env[passwordVariable(user)] = passwords[user];
    const configured = new ConfiguredNatsServer(await NatsServerProcess.onFreePort(['-c', CONFIG], env), passwords);
    await configured.start();
    return configured;
  }

  get port(): number {
    return this.server.port;
  }

  get url(): string {
    return this.server.url;
  }

  /** NATS_URL, NATS_USER and NATS_PASSWORD for one service. */
  envFor(user: NatsUser): Record<string, string> {
    return { NATS_URL: this.url, NATS_USER: user, NATS_PASSWORD: this.passwords[user] };
  }

  start(): Promise<void> {
    return this.server.start();
  }

  /** SIGSTOP: the server keeps its connections open but answers nothing. */
  freeze(): void {
    this.server.freeze();
  }

  thaw(): void {
    this.server.thaw();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}
