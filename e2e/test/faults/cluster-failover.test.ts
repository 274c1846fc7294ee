// Beyond one machine (README): a 3-node NATS cluster (deploy/nats/cluster) and Redis behind
// Sentinel (a primary, a replica, 3 sentinels), all private processes on loopback, with the compiled
// services spread over them. Under a steady load of logins, protected calls and logouts, the NATS
// node the gateway is connected to is killed (kill -9), then the Redis primary. Logins and
// protected calls must recover within 15 s, every failure meanwhile must be an answer (5xx) within
// ~2 s, and no logout acknowledged with 200 may be undone by the failover (token-service WAITs for
// the replica before it answers). Prints the figures.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServerProcess } from '@repo/test-support';
import { accepts, freePort, waitFor } from '../support/ports.ts';
import { NATS_USERS, passwordVariable, type NatsUser } from '../support/nats-server.ts';
import { LoginLoad, checkRevocations, distribution, summarise, type Outcome } from './load.ts';
import { Proc } from './processes.ts';

const CLUSTER_CONFIG = (n: number) => fileURLToPath(new URL(`../../../deploy/nats/cluster/nats-${n}.conf`, import.meta.url));
const MASTER_NAME = 'phone-login';
/** The gateway's bus budget here: a request in flight on a lost node gives up after this. */
const BUDGET_MS = 2_000;
/** A failure slower than this is a hang: the 2 s budget, and slack for a machine busy with other runs. */
const FAILURE_BOUND_MS = 3_000;
const RECOVERY_BOUND_MS = 15_000;
/** Generous: other test runs share the machine's 2 cores. */
const READY_MS = 120_000;
const CONCURRENCY = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Phase {
  scenario: string;
  requests: number;
  failed: number;
  lost: number;
  maxFailedMs: number;
  p99: number;
  /** From the kill to the end of the last failed login or protected call after it. */
  recoveryMs: number;
  codes: string;
}

/** The outcomes of one phase, and how long after `faultAt` logins and protected calls failed. */
function phase(scenario: string, outcomes: Outcome[], faultAt: number): Phase & { loginsAfter: number; protectedAfter: number } {
  const s = summarise(outcomes);
  const core = outcomes.filter((o) => o.kind === 'send' || o.kind === 'verify' || o.kind === 'protected');
  const lastFailure = Math.max(faultAt, ...core.filter((o) => o.status !== 200).map((o) => o.at + o.ms));
  const after = core.filter((o) => o.status === 200 && o.at >= lastFailure);
  return {
    scenario,
    requests: s.requests,
    failed: s.failed,
    lost: s.lost,
    maxFailedMs: s.maxFailedMs,
    p99: s.p99,
    recoveryMs: lastFailure - faultAt,
    codes: s.codes,
    loginsAfter: after.filter((o) => o.kind === 'verify').length,
    protectedAfter: after.filter((o) => o.kind === 'protected').length,
  };
}

async function monitor<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
  return (await res.json()) as T;
}

describe('cluster failover [distributed]: NATS node and Redis primary lost under load', () => {
  const nodes: Array<{ server: NatsServerProcess; monitorPort: number; name: string }> = [];
  const passwords = Object.fromEntries(NATS_USERS.map((u) => [u, `pw-${randomBytes(18).toString('hex')}`])) as Record<NatsUser, string>;
  let primary: Proc;
  let replica: Proc;
  const sentinels: Proc[] = [];
  const services: Proc[] = [];
  let primaryPort = 0;
  let replicaPort = 0;
  let sentinelPorts: number[] = [];
  let gatewayUrl = '';
  let twilioUrl = '';
  let dir = '';
  const rows: Phase[] = [];
  let passed = false;

  const redisServer = (name: string, port: number, extra: string[] = []) =>
    new Proc(name, ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], dir, { PATH: process.env.PATH }, () => accepts(port));

  /** What the sentinels say the primary is. */
  const sentinelPrimary = async (port: number) => {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      const [, p] = (await client.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as [string, string];
      const replicas = (await client.call('SENTINEL', 'replicas', MASTER_NAME)) as string[][];
      const others = (await client.call('SENTINEL', 'sentinels', MASTER_NAME)) as string[][];
      const healthy = replicas.filter((r) => {
        const flags = r[r.indexOf('flags') + 1] ?? '';
        return !flags.includes('down') && !flags.includes('disconnected') && r[r.indexOf('master-link-status') + 1] === 'ok';
      });
      return { port: Number(p), replicas: healthy.length, sentinels: others.length + 1 };
    } finally {
      client.disconnect();
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phone-login-cluster-'));
    // NATS: three nodes of deploy/nats/cluster, on private ports, routed to each other.
    const natsPorts = await Promise.all(Array.from({ length: 9 }, () => freePort()));
    const routes = [0, 1, 2].map((i) => `nats://127.0.0.1:${natsPorts[3 + i]}`).join(',');
    const natsEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const user of NATS_USERS) natsEnv[passwordVariable(user)] = passwords[user];
    for (const i of [0, 1, 2]) {
      const args = ['-c', CLUSTER_CONFIG(i + 1), '--cluster', `nats://127.0.0.1:${natsPorts[3 + i]}`, '--routes', routes, '-m', String(natsPorts[6 + i])];
      nodes.push({ server: new NatsServerProcess(natsPorts[i]!, args, natsEnv), monitorPort: natsPorts[6 + i]!, name: `nats-${i + 1}` });
    }
    for (const node of nodes) await node.server.start();
    await waitFor(
      async () => (await Promise.all(nodes.map((n) => monitor<{ num_routes: number }>(n.monitorPort, '/routez')))).every((r) => r.num_routes >= 2),
      'the three NATS nodes to route to each other',
      READY_MS,
    );

    // Redis: a primary, its replica, three sentinels (quorum 2).
    const redisPorts = await Promise.all(Array.from({ length: 5 }, () => freePort()));
    primaryPort = redisPorts[0]!;
    replicaPort = redisPorts[1]!;
    sentinelPorts = redisPorts.slice(2);
    primary = redisServer('redis-primary', primaryPort);
    replica = redisServer('redis-replica', replicaPort, ['--replicaof', '127.0.0.1', String(primaryPort)]);
    await primary.start();
    await replica.start();
    for (const [i, port] of sentinelPorts.entries()) {
      const conf = join(dir, `sentinel-${i}.conf`);
      // Sentinel rewrites its file (what it learned), so each gets its own.
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 10000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      const sentinel = new Proc(`sentinel-${i}`, ['redis-server', conf, '--sentinel'], dir, { PATH: process.env.PATH }, () => accepts(port));
      sentinels.push(sentinel);
      await sentinel.start();
    }
    await waitFor(
      async () => (await Promise.all(sentinelPorts.map(sentinelPrimary))).every((s) => s.port === primaryPort && s.replicas === 1 && s.sentinels === 3),
      'the sentinels to see the primary, its replica and each other',
      READY_MS,
    );

    // The services, on every NATS node and on the Sentinels.
    const [twilioPort, gatewayPort, tokenPort, authPort] = await Promise.all(Array.from({ length: 4 }, () => freePort()));
    twilioUrl = `http://127.0.0.1:${twilioPort}`;
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const natsUrl = nodes.map((n) => n.server.url).join(',');
    const common: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
      HOST: '127.0.0.1',
      NATS_URL: natsUrl,
      REDIS_SENTINELS: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
      REDIS_SENTINEL_NAME: MASTER_NAME,
      REDIS_KEY_PREFIX: `cluster-${randomBytes(4).toString('hex')}:`,
      TWILIO_VERIFY_BASE_URL: twilioUrl,
      RATE_LIMIT_PER_IP_PER_MINUTE: '1000000',
      SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: '1000',
      SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: '1000000',
      SMS_MIN_INTERVAL_SECONDS: '0',
      SMS_HOURLY_BUDGET: '1000000',
    };
    const nats = (user: NatsUser) => ({ NATS_USER: user, NATS_PASSWORD: passwords[user] });
    const signingKeys = JSON.stringify({ keys: [generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })] });
    services.push(
      Proc.service('twilio-verify-emulator', 'packages/twilio-verify-emulator', { ...common, TWILIO_EMULATOR_PORT: String(twilioPort) }, `${twilioUrl}/health`),
      Proc.service('token-service', 'services/token-service', { ...common, ...nats('token-service'), PORT: String(tokenPort), JWT_PRIVATE_KEYS: signingKeys }, `http://127.0.0.1:${tokenPort}/ready`),
      Proc.service('auth-service', 'services/auth-service', { ...common, ...nats('auth-service'), PORT: String(authPort) }, `http://127.0.0.1:${authPort}/ready`),
      Proc.service('gateway', 'services/gateway', { ...common, ...nats('gateway'), PORT: String(gatewayPort), BUS_TIMEOUT_MS: String(BUDGET_MS), SHUTDOWN_DRAIN_MS: '0' }, `${gatewayUrl}/ready`),
    );
    for (const p of services) await p.start();
  }, 900_000);

  afterAll(async () => {
    // On a failure, what each service logged (warnings and errors) tells which one did not recover.
    if (!passed) {
      for (const p of services) console.log(`--- ${p.name} (last lines)\n${p.log.slice(-3_000)}`);
    }
    await Promise.all(services.map((p) => p.stop()));
    await Promise.all([...sentinels, replica, primary].map((p) => p?.stop('SIGKILL')));
    await Promise.all(nodes.map((n) => n.server.stop()));
    if (dir) await rm(dir, { recursive: true, force: true });
    if (rows.length) {
      console.log('\nCluster failover (ms; gateway budget %d ms; failures must answer within %d ms, logins and protected calls recover within %d ms)', BUDGET_MS, FAILURE_BOUND_MS, RECOVERY_BOUND_MS);
      console.table(rows);
    }
  }, 120_000);

  /** The NATS node the gateway is connected to (its monitoring lists the gateway's user). */
  const gatewayNode = async () => {
    for (const node of nodes) {
      if (!node.server.running) continue;
      const connz = await monitor<{ connections?: Array<{ authorized_user?: string }> }>(node.monitorPort, '/connz?auth=true');
      if (connz.connections?.some((c) => c.authorized_user === 'gateway')) return node;
    }
    throw new Error('no NATS node has the gateway connected');
  };

  it('keeps logins and protected calls going through the loss of the NATS node the gateway uses, then of the Redis primary, and loses no logout', async () => {
    const load = new LoginLoad(gatewayUrl, twilioUrl);
    load.start(CONCURRENCY);
    await sleep(4_000);
    const baseline = phase('baseline (4 s)', [...load.outcomes], Date.now());
    rows.push(baseline);

    // 1. kill -9 the NATS node the gateway is connected to.
    const lost = await gatewayNode();
    const natsAt = Date.now();
    const natsFrom = load.outcomes.length;
    await lost.server.stop('SIGKILL');
    await sleep(RECOVERY_BOUND_MS);
    const natsPhase = phase(`kill -9 ${lost.name} (the gateway's)`, load.outcomes.slice(natsFrom), natsAt);
    rows.push(natsPhase);
    const moved = await gatewayNode();
    const loggedOutBeforeRedis = load.loggedOut.length;

    // 2. kill -9 the Redis primary; the sentinels promote the replica.
    const redisAt = Date.now();
    const redisFrom = load.outcomes.length;
    await primary.stop('SIGKILL');
    let promotedAt = 0;
    await waitFor(
      async () => {
        const s = await sentinelPrimary(sentinelPorts[0]!);
        if (s.port === replicaPort) promotedAt = Date.now();
        return promotedAt > 0;
      },
      'the sentinels to promote the replica',
      60_000,
    );
    await sleep(Math.max(0, RECOVERY_BOUND_MS - (Date.now() - redisAt)));
    const redisPhase = phase('kill -9 Redis primary', load.outcomes.slice(redisFrom), redisAt);
    rows.push(redisPhase);
    const logouts = load.outcomes.slice(redisFrom).filter((o) => o.kind === 'logout');

    // 3. The lost primary comes back (empty): the sentinels make it the new primary's replica, and
    // logouts are acknowledged again (until then they answer 503: no replica to confirm them).
    const backAt = Date.now();
    const backFrom = load.outcomes.length;
    await primary.start();
    await waitFor(async () => (await sentinelPrimary(sentinelPorts[0]!)).replicas === 1, 'the old primary to be the new one\'s replica', READY_MS);
    const replicaAt = Date.now();
    await sleep(5_000);
    await load.stop();
    const back = load.outcomes.slice(backFrom);
    const logoutsBack = back.filter((o) => o.kind === 'logout' && o.at >= replicaAt);
    rows.push({ ...phase('old primary back as replica', back, backAt), codes: `replica in sync after ${replicaAt - backAt} ms; logouts since: ${distribution(logoutsBack)}` });

    // Every session whose logout was acknowledged, before or after either failover, stays out.
    const { outcomes: checks, accepted } = await checkRevocations(gatewayUrl, load.loggedOut);
    rows.push({
      scenario: `revocations: ${load.loggedOut.length} sessions (${loggedOutBeforeRedis} before the Redis failover)`,
      requests: checks.length,
      failed: accepted.length,
      lost: 0,
      maxFailedMs: 0,
      p99: 0,
      recoveryMs: 0,
      codes: `${checks.length - accepted.length}/${checks.length} tokens refused; gateway moved to ${moved.name}; sentinels promoted the replica after ${promotedAt - redisAt} ms; logouts after the primary loss: ${distribution(logouts)}`,
    });

    expect(baseline.requests).toBeGreaterThan(10);
    expect(baseline.failed).toBe(0);
    expect(moved.name).not.toBe(lost.name);
    for (const p of [natsPhase, redisPhase]) {
      // Every failure was an answer (no connection dropped, no client timeout), and a fast one.
      expect(p.lost, p.scenario).toBe(0);
      expect(p.maxFailedMs, p.scenario).toBeLessThan(FAILURE_BOUND_MS);
      expect(p.recoveryMs, p.scenario).toBeLessThan(RECOVERY_BOUND_MS);
      expect(p.loginsAfter, `${p.scenario}: logins after recovery`).toBeGreaterThan(0);
      expect(p.protectedAfter, `${p.scenario}: protected calls after recovery`).toBeGreaterThan(0);
    }
    const failures = load.outcomes.filter((o) => o.status !== 200 && o.at >= natsAt);
    expect(failures.filter((o) => o.status < 500 && o.code !== 'TOKEN_REVOKED' && o.code !== 'REFRESH_TOKEN_REUSED'), 'failures were 503s').toEqual([]);
    expect(loggedOutBeforeRedis).toBeGreaterThan(0);
    expect(logoutsBack.filter((o) => o.status === 200).length, 'logouts acknowledged once a replica is back').toBeGreaterThan(0);
    expect(accepted).toEqual([]);
    passed = true;
  }, 600_000);
});
