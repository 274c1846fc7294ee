// Starts the whole system for the end-to-end suite, in either run mode, behind the same interface.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { startEmbedded } from '@repo/embedded';
import { ConfiguredNatsServer, natsServerAvailable, type NatsUser } from './nats-server.ts';
import { SERVICE_COMMAND } from './deployables.ts';
import { answers, freePort } from './ports.ts';
import { TcpProxy } from './tcp-proxy.ts';

export type Mode = 'embedded' | 'distributed';
export type ServiceName = 'gateway' | 'auth-service' | 'token-service' | 'plaid-service';

export interface System {
  mode: Mode;
  /** Gateway base URL. */
  url: string;
  twilioUrl: string;
  /** The Plaid emulator's base URL (its `/_emulator/*` controls drive the tests). */
  plaidUrl: string;
  /** Stops the Plaid emulator for good: the services must answer PLAID_UNAVAILABLE. */
  stopPlaid(): Promise<void>;
  /** Restarts the given services; in embedded mode, the whole process's system. */
  restart(services: ServiceName[]): Promise<void>;
  /** Stops services until `restart` brings them back (distributed only). */
  stop?(services: ServiceName[]): Promise<void>;
  /** Makes Redis unreachable for the gateway (distributed only). */
  redis?: { down(): Promise<void>; up(): Promise<void> };
  /** The suite's own nats-server, run with deploy/nats/nats-server.conf (distributed only). */
  nats?: { url: string; passwords: Record<NatsUser, string> };
  /** Every service process: its pid and how long it took from spawn to ready (distributed only). */
  processes?(): Array<{ name: string; pid: number | undefined; startMs: number }>;
  /** A service's own HTTP base URL (health, /metrics) and what it wrote so far, the last 64 KiB (distributed only). */
  service?(name: ServiceName): { url: string; output: string };
  close(): Promise<void>;
}

export interface SystemOptions {
  /** The gateway reaches Redis through a proxy a test can cut (default); false: directly, as in production. */
  redisProxy?: boolean;
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** nats-server is installed (the suite starts its own) and Redis answers on this machine. */
export async function distributedDepsAvailable(): Promise<boolean> {
  try {
    if (!(await natsServerAvailable())) return false;
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await redis.connect();
    await redis.ping();
    redis.disconnect();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the system. The suite's many logins from one address would hit the abuse limits, so they
 * are raised; `overrides` sets any variable of every process (e.g. the limits back to their defaults).
 */
export async function startSystem(mode: Mode, overrides: Record<string, string> = {}, options: SystemOptions = {}): Promise<System> {
  return mode === 'embedded' ? startEmbeddedSystem(overrides) : startDistributedSystem(overrides, options);
}

async function startEmbeddedSystem(overrides: Record<string, string>): Promise<System> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    TWILIO_EMULATOR_PORT: '0',
    PLAID_EMULATOR_PORT: '0',
    RATE_LIMIT_PER_IP_PER_MINUTE: '100000',
    SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: '100000',
    SMS_MIN_INTERVAL_SECONDS: '0',
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'silent',
    NODE_ENV: 'test',
    ...overrides,
  };
  delete env.REDIS_URL;
  delete env.JWT_PRIVATE_KEYS;
  let system = await startEmbedded(env);
  const handle: System = {
    mode: 'embedded',
    url: system.url,
    twilioUrl: system.twilioEmulatorUrl!,
    plaidUrl: system.plaidEmulatorUrl!,
    stopPlaid: () => system.stopPlaidEmulator(),
    async restart() {
      // One process holds every service: restarting any of them restarts the system. Its
      // in-memory state is gone, and so is the per-process signing key.
      await system.close();
      system = await startEmbedded(env);
      handle.url = system.url;
      handle.twilioUrl = system.twilioEmulatorUrl!;
      handle.plaidUrl = system.plaidEmulatorUrl!;
    },
    close: () => system.close(),
  };
  return handle;
}

const START_TIMEOUT_MS = 120_000;
/** How often a start polls the health URL: startMs is late by up to this much, so it is short. */
const START_POLL_MS = 10;

/**
 * The last `bytes` of a process's output. Chunks are kept as they come and joined only when read:
 * under a benchmark's load the request log arrives in thousands of small chunks a second, and
 * re-slicing one string per chunk cost the machine's CPU that the gateway and wrk share.
 */
class OutputTail {
  private chunks: Buffer[] = [];
  private length = 0;

  constructor(private readonly bytes: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    while (this.length - this.chunks[0]!.length >= this.bytes) this.length -= this.chunks.shift()!.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).subarray(-this.bytes).toString();
  }
}

class ServiceProcess {
  private child: ChildProcess | undefined;
  private output = new OutputTail(65_536);
  /** From spawn to the health URL answering, of the last start. */
  startMs = 0;

  constructor(
    readonly name: string,
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly healthUrl: string,
  ) {}

  async start(): Promise<void> {
    this.output = new OutputTail(65_536);
    // E2E_NODE_ARGS adds node flags to every service (e.g. --cpu-prof for a profile of a bench run).
    const nodeArgs = process.env.E2E_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    // The compiled bundle, as in production (deployables.ts builds it before every run).
    const child = spawn(process.execPath, [...nodeArgs, ...SERVICE_COMMAND], {
      cwd: `${repoRoot}${this.dir}`,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The last 64 KiB are enough to explain a failure; a long run with request logs would grow without bound.
    const keep = (d: Buffer) => this.output.push(d);
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.child = child;
    // Generous: on a busy machine (another test run at the same time) a start can take long.
    const spawnedAt = Date.now();
    const deadline = spawnedAt + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${this.name} did not start: it exited with ${child.exitCode}\n${this.output.text().slice(-4000)}`);
      if (await answers(this.healthUrl).catch(() => false)) {
        this.startMs = Date.now() - spawnedAt;
        return;
      }
      if (Date.now() > deadline) throw new Error(`${this.name} did not start: ${this.healthUrl} did not answer within ${START_TIMEOUT_MS / 1000} s\n${this.output.text().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, START_POLL_MS));
    }
  }

  get log(): string {
    return this.output.text();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

async function startDistributedSystem(overrides: Record<string, string>, options: SystemOptions): Promise<System> {
  const run = randomUUID().slice(0, 8);
  const [gatewayPort, authPort, tokenPort, plaidPort, twilioPort, plaidEmulatorPort, proxyPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const nats = await ConfiguredNatsServer.start();
  const redisTarget = new URL(REDIS_URL);
  const proxy = new TcpProxy(proxyPort, { host: redisTarget.hostname, port: Number(redisTarget.port || 6379) });
  await proxy.up();

  const common = {
    PATH: process.env.PATH,
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
    HOST: '127.0.0.1',
    REDIS_URL,
    REDIS_KEY_PREFIX: `e2e:${run}:`,
    TWILIO_VERIFY_BASE_URL: `http://127.0.0.1:${twilioPort}`,
    // Every request of the suite comes from 127.0.0.1.
    RATE_LIMIT_PER_IP_PER_MINUTE: '100000',
    SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: '100000',
    // Tests log in to one number several times in a row.
    SMS_MIN_INTERVAL_SECONDS: '0',
    ...overrides,
  };
  const plaidEmulatorUrl = `http://127.0.0.1:${plaidEmulatorPort}`;
  const plaidEmulator = new ServiceProcess(
    'plaid-emulator',
    'packages/plaid-emulator',
    { ...common, PLAID_EMULATOR_PORT: String(plaidEmulatorPort), PLAID_EMULATOR_NOT_READY_MS: '1500' },
    `${plaidEmulatorUrl}/health`,
  );
  const twilio = new ServiceProcess('twilio-verify-emulator', 'packages/twilio-verify-emulator', { ...common, TWILIO_EMULATOR_PORT: String(twilioPort) }, `http://127.0.0.1:${twilioPort}/health`);
  const services: Record<ServiceName, ServiceProcess> = {
    // Only token-service holds the private key; the gateway fetches the public keys from it.
    'token-service': new ServiceProcess(
      'token-service',
      'services/token-service',
      {
        ...common,
        ...nats.envFor('token-service'),
        PORT: String(tokenPort),
        JWT_PRIVATE_KEYS: JSON.stringify({ keys: [generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })] }),
      },
      `http://127.0.0.1:${tokenPort}/ready`,
    ),
    'plaid-service': new ServiceProcess(
      'plaid-service',
      'services/plaid-service',
      {
        ...common,
        ...nats.envFor('plaid-service'),
        PORT: String(plaidPort),
        PLAID_BASE_URL: plaidEmulatorUrl,
        PLAID_WEBHOOK_URL: `http://127.0.0.1:${gatewayPort}/api/plaid/webhook`,
        PLAID_TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      },
      `http://127.0.0.1:${plaidPort}/ready`,
    ),
    'auth-service': new ServiceProcess('auth-service', 'services/auth-service', { ...common, ...nats.envFor('auth-service'), PORT: String(authPort) }, `http://127.0.0.1:${authPort}/ready`),
    // The gateway reaches Redis through the proxy, so a test can cut it off.
    gateway: new ServiceProcess('gateway', 'services/gateway', { ...common, ...nats.envFor('gateway'), PORT: String(gatewayPort), SHUTDOWN_DRAIN_MS: '0', ...(options.redisProxy === false ? {} : { REDIS_URL: `redis://127.0.0.1:${proxyPort}` }) }, `http://127.0.0.1:${gatewayPort}/ready`),
  };
  const all = [twilio, plaidEmulator, ...Object.values(services)];
  const close = async () => {
    await Promise.all(all.map((p) => p.stop()));
    await nats.stop();
    await proxy.down();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`e2e:${run}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  };
  try {
    await Promise.all(all.map((p) => p.start()));
  } catch (err) {
    await close();
    throw err;
  }
  return {
    mode: 'distributed',
    url: `http://127.0.0.1:${gatewayPort}`,
    twilioUrl: `http://127.0.0.1:${twilioPort}`,
    plaidUrl: plaidEmulatorUrl,
    stopPlaid: () => plaidEmulator.stop(),
    async restart(names) {
      for (const name of names) await services[name].stop();
      for (const name of names) await services[name].start();
    },
    async stop(names) {
      for (const name of names) await services[name].stop();
    },
    redis: { down: () => proxy.down(), up: () => proxy.up() },
    nats: { url: nats.url, passwords: nats.passwords },
    processes: () => Object.values(services).map((p) => ({ name: p.name, pid: p.pid, startMs: p.startMs })),
    service: (name) => ({ url: new URL(services[name].healthUrl).origin, output: services[name].log }),
    close,
  };
}
