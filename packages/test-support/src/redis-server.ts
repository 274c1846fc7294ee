// A private redis-server process (no persistence) for tests that stop or freeze Redis, or need a
// replica — the machine's shared one must not be touched.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from './ports.ts';
import { ServerProcess } from './server-process.ts';

export class RedisServerProcess extends ServerProcess {
  /** `args` are redis-server's, e.g. `['--replicaof', '127.0.0.1', '6380']`. */
  constructor(
    port: number,
    private readonly args: string[] = [],
    /** A sentinel's config file: then it runs as a sentinel. */
    private readonly sentinelConfig?: string,
  ) {
    super(port);
  }

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

  protected command() {
    const args = this.sentinelConfig
      ? [this.sentinelConfig, '--sentinel', '--port', String(this.port), '--bind', '127.0.0.1', ...this.args]
      : ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.args];
    return { name: 'redis-server', bin: 'redis-server', args, env: { PATH: process.env.PATH } };
  }

  /** Stops it with `signal` (SIGKILL after 10 s) and waits for the exit; a sentinel's config goes too. */
  override async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const config = this.sentinelConfig;
    if (config && this.running) this.child?.once('exit', () => rmSync(dirname(config), { recursive: true, force: true }));
    await super.stop(signal);
  }
}
