// `npm run bench`: the gateway against bare Fastify, login latency, the bus, memory and start-up, in
// one run on this machine, as ratios (the machine is shared and noisy; absolute numbers drift).
// Prints a table and writes bench/results/<time>.json. Needs wrk, nats-server and Redis.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { handle, InProcessBus, NatsBus, type BusLogger } from '@repo/bus';
import { defineEndpoint } from '@repo/contracts';
import { RedisSessionMirror, RedisSessionStore } from '@repo/stores';
import { Redis } from 'ioredis';
import { call, latestCode, login, newPhoneNumber } from '../test/support/client.ts';
import { freePort } from '../test/support/ports.ts';
import { NATS_SERVER_BIN } from '../test/support/nats-server.ts';
import { buildDeployables } from '../test/support/deployables.ts';
import { startSystem, type System } from '../test/support/system.ts';
import { wrk, type WrkResult } from './wrk.ts';

const LOAD = { threads: 2, connections: 50, seconds: Number(process.env.BENCH_SECONDS ?? 4) };
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const LOGINS = 100;
// Untimed logins first: the services' login paths compiled and their connections warm, as in a
// system that has been serving for a while (the protected route gets wrk's warm-up run likewise).
const LOGIN_WARMUP = 30;
const LOGIN_CONCURRENCY = 4;
const BUS_ROUND_TRIPS = 2_000;
const SESSION_ENDS = 200;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const here = fileURLToPath(new URL('.', import.meta.url));
// BENCH_PROFILE=<dir>: every service writes a V8 CPU profile there when it stops (open in Chrome DevTools).
if (process.env.BENCH_PROFILE) process.env.E2E_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE}`;

function requireWrk(): void {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 but runs; only a missing binary throws ENOENT.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write('bench: wrk is not installed (Debian: apt-get install wrk)\n');
      process.exit(1);
    }
  }
}

function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : 0;
  } catch {
    return 0;
  }
}

// Clock ticks per second of /proc/<pid>/stat's CPU times.
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, every thread) a process has used so far, in µs. */
function cpuUs(pid: number | undefined): number {
  if (!pid) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

async function startBareFastify(coalesced = false): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), COALESCE_WRITES: coalesced ? '1' : '0' };
  const child = spawn(process.execPath, ['--import', 'tsx', `${here}bare-fastify.ts`], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
    child.once('exit', (code) => reject(new Error(`bare Fastify exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** Full logins (send, verify, protected) from a few clients at once; the outbox read is not timed. */
async function logins(system: System, concurrency: number, count = LOGINS): Promise<{ perSecond: number; p50Ms: number; p99Ms: number }> {
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  const client = async () => {
    while (next++ < count) {
      const phone = newPhoneNumber();
      let t = performance.now();
      const sent = await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: phone } });
      let spent = performance.now() - t;
      if (sent.status !== 200) throw new Error(`send-verification: ${sent.status} ${JSON.stringify(sent.body)}`);
      const code = await latestCode(system, phone);
      t = performance.now();
      const verified = await call(system, 'POST', '/api/auth/verify-code', { body: { phone_number: phone, code } });
      if (verified.status !== 200) throw new Error(`verify-code: ${verified.status} ${JSON.stringify(verified.body)}`);
      const ok = await call(system, 'GET', '/api/auth/protected', { token: verified.body.tokens.access_token });
      spent += performance.now() - t;
      if (ok.status !== 200) throw new Error(`protected: ${ok.status}`);
      times.push(spent);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const wall = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return { perSecond: round(times.length / wall, 1), p50Ms: round(pct(times, 50)), p99Ms: round(pct(times, 99)) };
}

/**
 * How long after a session ends (token-service's store write) another gateway replica refuses it:
 * a writer and a replica's RedisSessionMirror on the shared Redis, the session cached first.
 */
async function sessionEndPropagation(): Promise<{ p50Us: number; p99Us: number; maxUs: number }> {
  const prefix = `bench:${randomUUID()}:`;
  const writer = new Redis(REDIS_URL, { keyPrefix: prefix });
  const replica = new Redis(REDIS_URL, { keyPrefix: prefix, enableOfflineQueue: false });
  const store = new RedisSessionStore(writer);
  const mirror = new RedisSessionMirror(replica);
  mirror.start();
  try {
    while (!mirror.state().inSync) await sleep(10);
    const times: number[] = [];
    for (let i = 0; i < SESSION_ENDS; i++) {
      const session = { sid: randomUUID(), sub: '+14155550100', refreshJti: randomUUID() };
      await store.createSession(session, 60);
      if (!(await mirror.isSessionActive(session.sid, session.sub))) throw new Error('a new session was refused');
      const t = performance.now();
      await store.revokeSession(session.sid, session.sub);
      // From the write being acknowledged (the logout's answer) to this replica refusing it.
      while (await mirror.isSessionActive(session.sid, session.sub)) await new Promise((r) => setImmediate(r));
      times.push((performance.now() - t) * 1000);
    }
    times.sort((a, b) => a - b);
    return { p50Us: Math.round(pct(times, 50)), p99Us: Math.round(pct(times, 99)), maxUs: Math.round(times.at(-1) ?? 0) };
  } finally {
    await mirror.close();
    const left = await writer.keys('*');
    if (left.length) await new Redis(REDIS_URL).del(...left.map((k) => `${prefix}${k}`)).catch(() => undefined);
    writer.disconnect();
    replica.disconnect();
  }
}

const quiet: BusLogger = { info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };
const Echo = defineEndpoint('bench.echo', Type.Object({ n: Type.Integer() }), Type.Object({ n: Type.Integer() }));

/** One request/reply through the bus over a plain nats-server, against the in-process bus. */
async function busRoundTrips(): Promise<{ natsP50Us: number; natsP99Us: number; inProcessP50Us: number }> {
  const port = await freePort();
  const server = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  try {
    const url = `nats://127.0.0.1:${port}`;
    const serving = await NatsBus.connect({ url, name: 'bench-server', log: quiet }, 30_000);
    const asking = await NatsBus.connect({ url, name: 'bench-client', log: quiet }, 30_000);
    await serving.serve({ name: 'bench', version: '1.0.0', log: quiet }, [handle(Echo, async ({ n }) => ({ n }))]);
    // A round trip to the server (a flush): the endpoint's subscription is in place before the first request.
    await serving.ping();
    const local = new InProcessBus();
    await local.serve({ name: 'bench', version: '1.0.0', log: quiet }, [handle(Echo, async ({ n }) => ({ n }))]);
    const measure = async (bus: { request: typeof local.request }) => {
      const times: number[] = [];
      for (let i = 0; i < BUS_ROUND_TRIPS; i++) {
        const t = performance.now();
        await bus.request(Echo, { n: i });
        times.push((performance.now() - t) * 1000);
      }
      return times.slice(BUS_ROUND_TRIPS / 10).sort((a, b) => a - b);
    };
    const nats = await measure(asking);
    const inProcess = await measure(local);
    await asking.close();
    await serving.close();
    return { natsP50Us: Math.round(pct(nats, 50)), natsP99Us: Math.round(pct(nats, 99)), inProcessP50Us: Math.round(pct(inProcess, 50)) };
  } finally {
    server.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  requireWrk();
  // The services run from their compiled dist/server.js: never from an old one.
  process.stdout.write('bench: building the services…\n');
  await buildDeployables();
  process.stdout.write('bench: starting the distributed system (own nats-server, shared Redis)…\n');
  // The default configuration, but for limits a benchmark from one address would hit.
  const system = await startSystem(
    'distributed',
    {
      LOG_LEVEL: 'info',
      RATE_LIMIT_PER_IP_PER_MINUTE: '1000000000',
      SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: '1000000',
      SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: '1000',
      SMS_HOURLY_BUDGET: '1000000',
    },
    { redisProxy: false },
  );
  const bare = await startBareFastify();
  // Informational: bare Fastify writing as the gateway does (the target is against plain bare Fastify).
  const bareCoalesced = await startBareFastify(true);
  try {
    // Start-up, each service alone, one after the other (the first start had them all at once).
    const startMs: Record<string, number> = {};
    for (const { name } of system.processes!()) {
      await system.restart([name as 'gateway']);
      startMs[name] = system.processes!().find((p) => p.name === name)!.startMs;
    }
    await sleep(1_000);
    const rssIdle = Object.fromEntries(system.processes!().map((p) => [p.name, rssMb(p.pid)]));

    const { tokens } = await login(system);
    const [head, payload, signature] = tokens.access_token.split('.');
    const invalid = `${head}.${payload}.${signature!.slice(0, -6)}AAAAAA`;
    const revoked = (await login(system)).tokens.access_token;
    await call(system, 'DELETE', '/api/auth/logout', { token: revoked });
    for (const [token, status] of [[tokens.access_token, 200], [invalid, 401], [revoked, 401]] as const) {
      const res = await call(system, 'GET', '/api/auth/protected', { token });
      if (res.status !== status) throw new Error(`expected ${status} for a bench token, got ${res.status} ${JSON.stringify(res.body)}`);
    }

    const gatewayUrl = `${system.url}/api/auth/protected`;
    const bareUrl = `${bare.url}/api/auth/protected`;
    const bareCoalescedUrl = `${bareCoalesced.url}/api/auth/protected`;
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    process.stdout.write('bench: warming up…\n');
    await wrk(bareUrl, { ...LOAD, seconds: 2 });
    await wrk(bareCoalescedUrl, { ...LOAD, seconds: 2 });
    await wrk(gatewayUrl, { ...LOAD, seconds: 2, headers: bearer(tokens.access_token) });

    process.stdout.write(`bench: load, ${LOAD.threads} threads, ${LOAD.connections} connections, ${LOAD.seconds} s per run, ${ROUNDS} interleaved rounds…\n`);
    // Each round runs every case once, so drift in the machine's load (it is shared) hits all cases
    // alike; each case's median over the rounds is reported.
    const cases = { bare: [bareUrl, undefined], bareCoalesced: [bareCoalescedUrl, undefined], valid: [gatewayUrl, tokens.access_token], invalid: [gatewayUrl, invalid], revoked: [gatewayUrl, revoked] } as const;
    const samples: Record<keyof typeof cases, WrkResult[]> = { bare: [], bareCoalesced: [], valid: [], invalid: [], revoked: [] };
    // The server's CPU per request (from /proc, every thread): steadier than req/s when the
    // machine is shared, since another process's load slows a run but does not add to this.
    const cpuPerRequest: Record<keyof typeof cases, number[]> = { bare: [], bareCoalesced: [], valid: [], invalid: [], revoked: [] };
    const gatewayPid = system.processes!().find((p) => p.name === 'gateway')!.pid;
    const order = Object.entries(cases) as Array<[keyof typeof cases, readonly [string, string | undefined]]>;
    for (let round = 0; round < ROUNDS; round++) {
      // Each round starts one case later, so no case always runs right after the same other one
      // (the garbage of one run is collected in the next).
      const rotated = [...order.slice(round % order.length), ...order.slice(0, round % order.length)];
      for (const [name, [url, token]] of rotated) {
        const pid = name === 'bare' ? bare.child.pid : name === 'bareCoalesced' ? bareCoalesced.child.pid : gatewayPid;
        const before = cpuUs(pid);
        const result = await wrk(url, { ...LOAD, ...(token ? { headers: bearer(token) } : {}) });
        samples[name].push(result);
        cpuPerRequest[name].push((cpuUs(pid) - before) / result.requests);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const summary = (name: keyof typeof cases): WrkResult => {
      const runs_ = samples[name];
      return { rps: median(runs_.map((r) => r.rps)), p50Ms: median(runs_.map((r) => r.p50Ms)), p99Ms: median(runs_.map((r) => r.p99Ms)), requests: runs_.reduce((n, r) => n + r.requests, 0), non2xx: runs_.reduce((n, r) => n + r.non2xx, 0) };
    };
    const runs = { bareFirst: summary('bare'), bareCoalesced: summary('bareCoalesced'), valid: summary('valid'), invalid: summary('invalid'), revoked: summary('revoked') };
    const bareRps = runs.bareFirst.rps;
    const cpuUsPerRequest = Object.fromEntries(Object.entries(cpuPerRequest).map(([name, xs]) => [name, round(median(xs), 1)])) as Record<keyof typeof cases, number>;

    process.stdout.write('bench: logins and bus round trips…\n');
    // Latency with one login at a time (what a user waits); throughput with several at once.
    await logins(system, 1, LOGIN_WARMUP);
    const login_ = await logins(system, 1);
    const loginConcurrent = await logins(system, LOGIN_CONCURRENCY);
    const bus = await busRoundTrips();
    const sessionEnd = await sessionEndPropagation();
    await sleep(1_000);
    const rssAfter = Object.fromEntries(system.processes!().map((p) => [p.name, rssMb(p.pid)]));

    const results = {
      at: new Date().toISOString(),
      load: LOAD,
      protectedRoute: {
        bareFastifyRps: round(bareRps, 0),
        validRps: round(runs.valid!.rps, 0),
        invalidRps: round(runs.invalid!.rps, 0),
        revokedRps: round(runs.revoked!.rps, 0),
        validVsBare: round(runs.valid!.rps / bareRps),
        // Informational: against bare Fastify holding its writes to the end of each turn, as the gateway does.
        bareCoalescedRps: round(runs.bareCoalesced!.rps, 0),
        validVsBareCoalesced: round(runs.valid!.rps / runs.bareCoalesced!.rps),
        invalidVsValid: round(runs.invalid!.rps / runs.valid!.rps),
        revokedVsValid: round(runs.revoked!.rps / runs.valid!.rps),
        validP50Ms: runs.valid!.p50Ms,
        validP99Ms: runs.valid!.p99Ms,
        bareP99Ms: runs.bareFirst!.p99Ms,
        non2xxOfValid: runs.valid!.non2xx,
        cpuUsPerRequest,
        // What validVsBare would be if the server's CPU were all that limits it (informational).
        bareVsValidCpuPerRequest: round(cpuUsPerRequest.bare / cpuUsPerRequest.valid),
        cpuUsPerRequestPerRound: Object.fromEntries(Object.entries(cpuPerRequest).map(([name, xs]) => [name, xs.map((x) => round(x, 1))])),
        rpsPerRound: Object.fromEntries(Object.entries(samples).map(([name, rs]) => [name, rs.map((r) => round(r.rps, 0))])),
      },
      login: { oneAtATime: login_, [`${LOGIN_CONCURRENCY}AtOnce`]: loginConcurrent },
      bus,
      sessionEndToOtherReplicaUs: sessionEnd,
      rssMb: { idle: rssIdle, afterLoad: rssAfter },
      startToReadyMs: startMs,
    };
    const targets: Array<[string, string, boolean]> = [
      ['protected route vs bare Fastify', `${results.protectedRoute.validVsBare} (>= 0.60)`, results.protectedRoute.validVsBare >= 0.6],
      ['protected route p99', `${results.protectedRoute.validP99Ms} ms (< 10)`, results.protectedRoute.validP99Ms < 10],
      ['invalid token vs valid', `${results.protectedRoute.invalidVsValid} (>= 0.90)`, results.protectedRoute.invalidVsValid >= 0.9],
      ['revoked token vs valid', `${results.protectedRoute.revokedVsValid} (>= 0.90)`, results.protectedRoute.revokedVsValid >= 0.9],
      ['full login p50 (one at a time)', `${login_.p50Ms} ms (< 20)`, login_.p50Ms < 20],
      ['RSS after load, max', `${Math.max(...Object.values(rssAfter))} MB (< 150)`, Math.max(...Object.values(rssAfter)) < 150],
      ['start to ready, max', `${Math.max(...Object.values(startMs))} ms (< 1000)`, Math.max(...Object.values(startMs)) < 1000],
    ];
    console.table({
      'bare Fastify': { 'req/s': results.protectedRoute.bareFastifyRps, 'p99 ms': runs.bareFirst!.p99Ms, 'server CPU µs/req': cpuUsPerRequest.bare },
      'bare Fastify, writes coalesced': { 'req/s': results.protectedRoute.bareCoalescedRps, 'p99 ms': runs.bareCoalesced!.p99Ms, 'server CPU µs/req': cpuUsPerRequest.bareCoalesced },
      'gateway, valid token': { 'req/s': results.protectedRoute.validRps, 'p99 ms': runs.valid!.p99Ms, 'server CPU µs/req': cpuUsPerRequest.valid },
      'gateway, invalid token': { 'req/s': results.protectedRoute.invalidRps, 'p99 ms': runs.invalid!.p99Ms, 'server CPU µs/req': cpuUsPerRequest.invalid },
      'gateway, revoked token': { 'req/s': results.protectedRoute.revokedRps, 'p99 ms': runs.revoked!.p99Ms, 'server CPU µs/req': cpuUsPerRequest.revoked },
    });
    console.table({ 'full login, one at a time': login_, [`full login, ${LOGIN_CONCURRENCY} at once`]: loginConcurrent, 'bus round trip (µs)': { nats_p50: bus.natsP50Us, nats_p99: bus.natsP99Us, in_process_p50: bus.inProcessP50Us } });
    console.table({ 'session end -> refused by another replica (µs)': sessionEnd });
    console.table(Object.fromEntries(Object.keys(rssIdle).map((name) => [name, { 'RSS idle MB': rssIdle[name], 'RSS after MB': rssAfter[name], 'start to ready ms': startMs[name] }])));
    console.table(targets.map(([target, value, met]) => ({ target, value, met: met ? 'yes' : 'NO' })));
    mkdirSync(`${here}results`, { recursive: true });
    const file = `${here}results/${results.at.replace(/[:.]/g, '-')}.json`;
    writeFileSync(file, `${JSON.stringify({ ...results, targets }, null, 2)}\n`);
    process.stdout.write(`bench: results in ${file}\n`);
  } finally {
    bare.child.kill('SIGTERM');
    bareCoalesced.child.kill('SIGTERM');
    await system.close();
  }
}

await main();
// Everything it started is stopped by now; a library handle left behind (esbuild's service
// process was seen) must not keep the command from returning.
process.exit(0);
