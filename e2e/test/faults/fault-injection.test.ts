// Fault injection on the distributed mode (issue 8): a private nats-server (deploy/nats config) and
// redis-server, two replicas of auth-service and token-service, one gateway, a load of logins and
// sessions (protected reads, refreshes, logouts), and faults: SIGTERM and kill -9 of replicas,
// NATS stopped and frozen, Redis frozen, stopped and back empty, no replica left, the gateway's
// drain, and duplicates: one refresh token sent 10 times at once, refreshes retried while a
// replica dies, one code checked 10 times at once. Prints a table of figures and fails on the
// thresholds: no request lost to SIGTERM, no revocation lost, no retried refresh that logs the
// user out, non-idempotent requests within the budget after kill -9, 503 within 2 s while a
// dependency is down, recovery within 10 s.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ATTEMPT_TIMEOUT_MS } from '@repo/bus';
import { accepts, freePort } from '../support/ports.ts';
import { ConfiguredNatsServer } from '../support/nats-server.ts';
import {
  IDEMPOTENT,
  LoginLoad,
  checkRevocations,
  distribution,
  lastCode,
  loginOnce,
  loginPair,
  nextPhone,
  refreshOnce,
  summarise,
  timedCall,
  SESSION_KILLED,
  type Outcome,
  type Pair,
} from './load.ts';
import { Proc } from './processes.ts';

/** The gateway's bus budget (BUS_TIMEOUT_MS) in this suite. */
const BUDGET_MS = 3_000;
/** Issue 8: a request slower than this while a dependency is down is a failure. */
const DEPENDENCY_DOWN_BOUND_MS = 2_000;
const CONCURRENCY = 6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  scenario: string;
  requests: number;
  failed: number;
  lost: number;
  p50: number;
  p99: number;
  max: number;
  maxFailedMs: number;
  /** Slowest protected read or refresh. */
  idempotentMax: number | '';
  recoveryMs: number | '';
  /** Logged-out sessions checked afterwards: how many were refused, and how many got in. */
  revocations: string;
  codes: string;
}
const rows: Row[] = [];

function record(scenario: string, outcomes: Outcome[], recoveryMs: number | '' = '', extra: Partial<Row> = {}): ReturnType<typeof summarise> {
  const s = summarise(outcomes);
  rows.push({ scenario, ...s, recoveryMs, revocations: '', ...extra });
  return s;
}

/** A row that is not a load: one figure. */
function single(scenario: string, ms: number, failed: number, codes: string, recoveryMs: number | '' = ''): void {
  rows.push({ scenario, requests: ms === 0 && failed === 0 ? 0 : 1, failed, lost: 0, p50: ms, p99: ms, max: ms, maxFailedMs: failed ? ms : 0, idempotentMax: '', recoveryMs, revocations: '', codes });
}

/** The codes of the failed answers and a note, as one cell. */
const withNote = (outcomes: Outcome[], note: string) => [distribution(outcomes.filter((o) => o.status !== 200)), note].filter(Boolean).join('; ');

describe('fault injection [distributed]', () => {
  let nats: ConfiguredNatsServer;
  let redis: Proc;
  let twilio: Proc;
  let gateway: Proc;
  let replicas: Record<'auth-a' | 'auth-b' | 'token-a' | 'token-b', Proc>;
  let gatewayUrl = '';
  let twilioUrl = '';
  let late: Proc | undefined;
  let common: NodeJS.ProcessEnv = {};
  let lateReadyUrl = '';

  beforeAll(async () => {
    nats = await ConfiguredNatsServer.start();
    const [redisPort, twilioPort, gatewayPort, ...servicePorts] = await Promise.all(Array.from({ length: 8 }, () => freePort()));
    redis = new Proc('redis-server', ['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], '/tmp', { PATH: process.env.PATH }, () => accepts(redisPort!));
    await redis.start();
    twilioUrl = `http://127.0.0.1:${twilioPort}`;
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    common = {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
      HOST: '127.0.0.1',
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      TWILIO_VERIFY_BASE_URL: twilioUrl,
      RATE_LIMIT_PER_IP_PER_MINUTE: '1000000',
      SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: '1000',
      // The load sends codes from one IP to a few numbers, fast.
      SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: '1000000',
      SMS_MIN_INTERVAL_SECONDS: '0',
      SMS_HOURLY_BUDGET: '1000000',
    };
    twilio = Proc.service('twilio-verify-emulator', 'packages/twilio-verify-emulator', { ...common, TWILIO_EMULATOR_PORT: String(twilioPort) }, `${twilioUrl}/health`);
    // Both token-service replicas sign with the same key; nobody else gets it.
    const signingKeys = JSON.stringify({ keys: [generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })] });
    const service = (name: string, dir: string, user: 'auth-service' | 'token-service', port: number) =>
      Proc.service(
        name,
        dir,
        { ...common, ...nats.envFor(user), PORT: String(port), ...(user === 'token-service' ? { JWT_PRIVATE_KEYS: signingKeys } : {}) },
        `http://127.0.0.1:${port}/ready`,
      );
    replicas = {
      'token-a': service('token-a', 'services/token-service', 'token-service', servicePorts[0]!),
      'token-b': service('token-b', 'services/token-service', 'token-service', servicePorts[1]!),
      'auth-a': service('auth-a', 'services/auth-service', 'auth-service', servicePorts[2]!),
      'auth-b': service('auth-b', 'services/auth-service', 'auth-service', servicePorts[3]!),
    };
    // Started while NATS is down (below): it must start, say not ready, and serve once NATS is back.
    lateReadyUrl = `http://127.0.0.1:${servicePorts[4]}/ready`;
    late = Proc.service(
      'token-late',
      'services/token-service',
      { ...common, ...nats.envFor('token-service'), PORT: String(servicePorts[4]), JWT_PRIVATE_KEYS: signingKeys },
      `http://127.0.0.1:${servicePorts[4]}/health`,
    );
    gateway = Proc.service('gateway', 'services/gateway', { ...common, ...nats.envFor('gateway'), PORT: String(gatewayPort), BUS_TIMEOUT_MS: String(BUDGET_MS), SHUTDOWN_DRAIN_MS: '0' }, `${gatewayUrl}/ready`);
    // One at a time: the machine has few cores and other runs share it.
    for (const p of [twilio, ...Object.values(replicas), gateway]) await p.start();
  }, 600_000);

  afterAll(async () => {
    await Promise.all([gateway, twilio, late, ...Object.values(replicas ?? {})].map((p) => p?.stop()));
    await nats?.stop();
    await redis?.stop();
    if (rows.length) {
      const table = rows.map((r) => ({ ...r }));
      console.log(
        '\nFault injection (latencies in ms; gateway budget %d ms, first attempt of an idempotent request %d ms; bound while a dependency is down %d ms)',
        BUDGET_MS,
        DEFAULT_ATTEMPT_TIMEOUT_MS,
        DEPENDENCY_DOWN_BOUND_MS,
      );
      console.table(table);
    }
  }, 120_000);

  /** Runs the load, injects `fault` after 2 s, lets it run `settleMs` more, and stops it. */
  const underLoad = async (fault: () => Promise<void>, settleMs = 2_000) => {
    const load = new LoginLoad(gatewayUrl, twilioUrl);
    load.start(CONCURRENCY);
    await sleep(2_000);
    await fault();
    await sleep(settleMs);
    await load.stop();
    return load;
  };

  /** Checks that every session the load logged out is refused now (access and refresh token). */
  const revocationsHold = async (load: LoginLoad) => {
    const { outcomes, accepted } = await checkRevocations(gatewayUrl, load.loggedOut);
    return { accepted, figure: `${load.loggedOut.length} sessions, ${outcomes.length - accepted.length}/${outcomes.length} tokens refused` };
  };

  it('answers every request without faults (baseline)', async () => {
    const load = await underLoad(async () => undefined);
    const s = record('baseline', load.outcomes);
    expect(s.requests).toBeGreaterThan(10);
    expect(s.failed).toBe(0);
    expect(load.outcomes.filter((o) => o.kind === 'refresh').length).toBeGreaterThan(0);
  }, 120_000);

  it('loses no request and no revocation when one of two replicas of each service gets SIGTERM under load', async () => {
    const load = await underLoad(() => Promise.all([replicas['auth-a'].stop('SIGTERM'), replicas['token-a'].stop('SIGTERM')]).then(() => undefined));
    const revoked = await revocationsHold(load);
    const s = record('SIGTERM auth-a + token-a', load.outcomes, '', { revocations: revoked.figure });
    await replicas['token-a'].start();
    await replicas['auth-a'].start();
    expect(s.requests).toBeGreaterThan(10);
    expect(s.lost).toBe(0);
    expect(s.failed).toBe(0);
    expect(load.sessionsKilled).toEqual([]);
    expect(load.loggedOut.length).toBeGreaterThan(0);
    expect(revoked.accepted).toEqual([]);
  }, 300_000);

  it('loses no revocation and no session, and answers within the budget, when one of two replicas is killed with kill -9 under load', async () => {
    const load = await underLoad(() => Promise.all([replicas['auth-b'].stop('SIGKILL'), replicas['token-b'].stop('SIGKILL')]).then(() => undefined), 4_000);
    const revoked = await revocationsHold(load);
    const s = record('kill -9 auth-b + token-b', load.outcomes, '', { revocations: revoked.figure });
    await replicas['token-b'].start();
    await replicas['auth-b'].start();
    const once = load.outcomes.filter((o) => !IDEMPOTENT.includes(o.kind!));
    expect(s.requests).toBeGreaterThan(10);
    expect(s.lost).toBe(0);
    // Sent once (send, verify, logout): one in flight on the killed replica waits for the budget.
    expect(Math.max(...once.map((o) => o.ms))).toBeLessThan(BUDGET_MS + 1_500);
    // Issue 8: protected reads and refreshes are retried on a short first attempt: never over 2 s.
    expect(s.idempotentMax).toBeLessThan(DEPENDENCY_DOWN_BOUND_MS);
    expect(load.outcomes.filter((o) => o.kind === 'refresh').length).toBeGreaterThan(0);
    expect(load.outcomes.filter((o) => o.kind === 'protected').length).toBeGreaterThan(0);
    expect(load.sessionsKilled).toEqual([]);
    expect(load.loggedOut.length).toBeGreaterThan(0);
    expect(revoked.accepted).toEqual([]);
  }, 300_000);

  it('gives all of 10 refreshes of one refresh token at once the same pair, and the session stays usable', async () => {
    const outcomes: Outcome[] = [];
    const pairsPerBurst: number[] = [];
    const usable: Outcome[] = [];
    for (let session = 0; session < 5; session++) {
      const pair = await loginPair(gatewayUrl, twilioUrl);
      expect(pair).toBeDefined();
      let token = pair!.refresh_token;
      // Two generations: the successor pair of a burst must be as good as a normal one.
      for (let generation = 0; generation < 2; generation++) {
        const answers = await Promise.all(Array.from({ length: 10 }, () => refreshOnce(gatewayUrl, token, outcomes)));
        pairsPerBurst.push(new Set(answers.map((a) => (a.pair ? `${a.pair.access_token} ${a.pair.refresh_token}` : `${a.status} ${a.code}`))).size);
        const next = answers.find((a) => a.pair)?.pair;
        if (!next) break;
        await timedCall(`${gatewayUrl}/api/auth/protected`, undefined, usable, next.access_token, { kind: 'protected' });
        token = next.refresh_token;
      }
      await refreshOnce(gatewayUrl, token, usable);
    }
    record('10 refreshes of one token at once (×5 sessions ×2)', outcomes, '', { codes: withNote(outcomes, `distinct answers per burst: ${[...new Set(pairsPerBurst)].join(',')}`) });
    expect(outcomes.filter((o) => o.code && SESSION_KILLED.includes(o.code))).toEqual([]);
    expect(outcomes.every((o) => o.status === 200)).toBe(true);
    expect(pairsPerBurst).toEqual(Array(10).fill(1));
    expect(usable.map((o) => o.status)).toEqual(Array(usable.length).fill(200));
    expect(usable.length).toBe(15);
  }, 300_000);

  it('keeps every session when refreshes are retried while a token-service replica is killed with kill -9 under load', async () => {
    const sessions: Pair[] = [];
    for (let i = 0; i < 10; i++) {
      const pair = await loginPair(gatewayUrl, twilioUrl);
      expect(pair).toBeDefined();
      sessions.push(pair!);
    }
    const load = new LoginLoad(gatewayUrl, twilioUrl);
    load.start(2);
    await sleep(1_000);
    const outcomes: Outcome[] = [];
    // Frozen first, so the refreshes NATS routes to it are surely in flight there when it dies.
    replicas['token-b'].freeze();
    const first = sessions.map((s) => refreshOnce(gatewayUrl, s.refresh_token, outcomes));
    await sleep(300);
    const killed = replicas['token-b'].stop('SIGKILL');
    await sleep(200);
    // The client's retries race the first tries, which may still wait at the gateway.
    const second = sessions.map((s) => refreshOnce(gatewayUrl, s.refresh_token, outcomes));
    await killed;
    const answers = [await Promise.all(first), await Promise.all(second)];
    // And a retry after both were answered (the client lost the reply).
    answers.push(await Promise.all(sessions.map((s) => refreshOnce(gatewayUrl, s.refresh_token, outcomes))));
    await sleep(1_000);
    await load.stop();
    const usable: Outcome[] = [];
    for (let i = 0; i < sessions.length; i++) {
      const pair = answers[0]![i]!.pair;
      if (!pair) continue;
      await timedCall(`${gatewayUrl}/api/auth/protected`, undefined, usable, pair.access_token, { kind: 'protected' });
      await refreshOnce(gatewayUrl, pair.refresh_token, usable);
    }
    const revoked = await revocationsHold(load);
    await replicas['token-b'].start();
    const samePair = sessions.filter((_, i) => {
      const got = new Set(answers.map((a) => (a[i]!.pair ? `${a[i]!.pair!.access_token} ${a[i]!.pair!.refresh_token}` : `${a[i]!.status} ${a[i]!.code}`)));
      return got.size === 1 && answers[0]![i]!.pair !== undefined;
    }).length;
    const idempotent = record('refresh retried while token-b killed (kill -9)', outcomes, '', { codes: withNote(outcomes, `same pair on all 3 tries: ${samePair}/${sessions.length} sessions`) });
    record('  load during it', load.outcomes, '', { revocations: revoked.figure });
    expect(outcomes.filter((o) => o.code && SESSION_KILLED.includes(o.code))).toEqual([]);
    expect(outcomes.map((o) => o.status)).toEqual(Array(outcomes.length).fill(200));
    expect(samePair).toBe(sessions.length);
    // Issue 8: a request over 2 s while a dependency is down is a failure; these are idempotent.
    expect(idempotent.idempotentMax).toBeLessThan(DEPENDENCY_DOWN_BOUND_MS);
    expect(usable.map((o) => o.status)).toEqual(Array(2 * sessions.length).fill(200));
    expect(load.sessionsKilled).toEqual([]);
    expect(revoked.accepted).toEqual([]);
  }, 300_000);

  it('answers 10 checks of one code at once with one token pair (one session) and a 4xx (never a 5xx) for the others', async () => {
    const outcomes: Outcome[] = [];
    const winners: number[] = [];
    const usable: Outcome[] = [];
    const sharedAnswers: number[] = [];
    for (let round = 0; round < 3; round++) {
      const phone = nextPhone();
      expect((await timedCall(`${gatewayUrl}/api/auth/send-verification`, { phone_number: phone }, [])).status).toBe(200);
      const code = await lastCode(twilioUrl, phone);
      const answers = await Promise.all(Array.from({ length: 10 }, () => timedCall(`${gatewayUrl}/api/auth/verify-code`, { phone_number: phone, code }, outcomes, undefined, { kind: 'verify' })));
      // A check that reaches auth-service after the code's tokens were issued is taken for a
      // retry of a lost answer and gets that same pair (kept 30 s): on a loaded machine some of the
      // ten arrive that late. What must hold is one code, one session: a single distinct pair.
      const won = [...new Map(answers.filter((a) => a.status === 200).map((a) => [(a.json as { tokens: Pair }).tokens.refresh_token, a])).values()];
      winners.push(won.length);
      sharedAnswers.push(answers.filter((a) => a.status === 200).length);
      for (const w of won) await timedCall(`${gatewayUrl}/api/auth/protected`, undefined, usable, (w.json as { tokens: Pair }).tokens.access_token, { kind: 'protected' });
    }
    record('10 checks of one code at once (×3)', outcomes, '', { codes: distribution(outcomes), revocations: `200s carrying the one pair, per round: ${sharedAnswers.join(', ')}` });
    expect(winners).toEqual([1, 1, 1]);
    expect(outcomes.filter((o) => o.status !== 200).every((o) => o.status >= 400 && o.status < 500)).toBe(true);
    expect(usable.map((o) => o.status)).toEqual([200, 200, 200]);
  }, 300_000);

  it('answers 503 within 2 s while NATS is down, and recovers within 10 s', async () => {
    await nats.stop();
    const outcomes: Outcome[] = [];
    const readyStarted = Date.now();
    const ready = await fetch(`${gatewayUrl}/ready`);
    const readyMs = Date.now() - readyStarted;
    for (let i = 0; i < 10; i++) {
      const at = Date.now();
      const res = await fetch(`${gatewayUrl}/api/auth/send-verification`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone_number: `+1415555${String(9_000 + i).padStart(4, '0')}` }),
      });
      const body = (await res.json()) as { code?: string };
      outcomes.push({ at, ms: Date.now() - at, status: res.status, ...(body.code ? { code: body.code } : {}), ...(res.headers.get('retry-after') ? {} : { code: 'NO_RETRY_AFTER' }) });
    }
    // A service started now starts (its /health answers) and is not ready.
    await late!.start();
    const lateReady = await fetch(lateReadyUrl);
    const lateBody = (await lateReady.json()) as { code?: string };
    expect(lateReady.status).toBe(503);
    expect(lateBody.code).toBe('SERVICE_UNAVAILABLE');

    await nats.start();
    const back = Date.now();
    let recoveryMs = Number.POSITIVE_INFINITY;
    while (Date.now() - back < 30_000) {
      const res = await fetch(`${gatewayUrl}/api/auth/send-verification`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone_number: `+1415555${String(9_500 + Math.floor(Math.random() * 400)).padStart(4, '0')}` }),
      });
      if (res.ok) {
        recoveryMs = Date.now() - back;
        break;
      }
      await sleep(100);
    }
    const s = record('NATS stopped', outcomes, Number.isFinite(recoveryMs) ? recoveryMs : '');
    single('NATS stopped: /ready', readyMs, ready.status === 503 ? 1 : 0, String(ready.status));
    expect(ready.status).toBe(503);
    expect(readyMs).toBeLessThan(1_000);
    expect(outcomes.every((o) => o.status === 503 && o.code === 'SERVICE_UNAVAILABLE')).toBe(true);
    expect(s.max).toBeLessThan(2_000);
    expect(recoveryMs).toBeLessThan(10_000);
    let lateReadyMs = Number.POSITIVE_INFINITY;
    while (Date.now() - back < 30_000) {
      if ((await fetch(lateReadyUrl)).ok) {
        lateReadyMs = Date.now() - back;
        break;
      }
      await sleep(100);
    }
    single('started while NATS down', 0, 0, '', lateReadyMs);
    expect(lateReadyMs).toBeLessThan(10_000);
  }, 300_000);

  it('answers within 2 s while NATS is frozen under load, and recovers within 10 s of the thaw', async () => {
    const load = new LoginLoad(gatewayUrl, twilioUrl);
    load.start(CONCURRENCY);
    await sleep(1_500);
    const frozenAt = Date.now();
    nats.freeze();
    await sleep(4_000);
    const readyStarted = Date.now();
    const ready = await fetch(`${gatewayUrl}/ready`);
    const readyMs = Date.now() - readyStarted;
    nats.thaw();
    const thawedAt = Date.now();
    // Recovered: a request sent after the thaw succeeds.
    while (Date.now() - thawedAt < 30_000 && !load.outcomes.some((o) => o.at > thawedAt && o.status === 200)) await sleep(100);
    const recoveryMs = Date.now() - thawedAt;
    const outcomes = await load.stop();
    // Those in flight when NATS froze count too: they are the ones that could hang.
    const duringFreeze = outcomes.filter((o) => o.at + o.ms >= frozenAt && o.at < thawedAt);
    const s = record('NATS frozen (SIGSTOP 4 s)', duringFreeze, recoveryMs);
    expect(ready.status).toBe(503);
    expect(readyMs).toBeLessThan(1_000);
    expect(s.lost).toBe(0);
    expect(s.max).toBeLessThan(2_000);
    expect(load.sessionsKilled).toEqual([]);
    expect(recoveryMs).toBeLessThan(10_000);
  }, 300_000);

  it('turns the gateway not ready on SIGTERM, keeps serving for the drain period, then exits', async () => {
    // A second gateway with a drain period, so the first keeps serving the other scenarios.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const drainMs = 3_000;
    const second = Proc.service(
      'gateway-drain',
      'services/gateway',
      {
        ...common,
        ...nats.envFor('gateway'),
        PORT: String(port),
        SHUTDOWN_DRAIN_MS: String(drainMs),
      },
      `${url}/ready`,
    );
    await second.start();
    const load = new LoginLoad(url, twilioUrl);
    load.start(2);
    await sleep(1_000);
    const sigterm = Date.now();
    const stopped = second.stop('SIGTERM');
    await sleep(300);
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(503);
    await sleep(drainMs - 1_000);
    // Clients that keep sending during the drain are still answered.
    const during = load.outcomes.filter((o) => o.at > sigterm + 500 && o.at < sigterm + drainMs - 500);
    const outcomes = await load.stop();
    await stopped;
    const s = record('SIGTERM gateway, 3 s drain (recoveryMs: exit)', outcomes.filter((o) => o.at < sigterm + drainMs - 200), Date.now() - sigterm);
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((o) => o.status === 200)).toBe(true);
    expect(s.failed).toBe(0);
    expect(load.sessionsKilled).toEqual([]);
  }, 300_000);

  /** Calls the protected route with `token` for `ms`, back to back. */
  const probeProtected = async (token: string, ms: number, outcomes: Outcome[]) => {
    const until = Date.now() + ms;
    while (Date.now() < until) await timedCall(`${gatewayUrl}/api/auth/protected`, undefined, outcomes, token);
  };

  /** Polls until `ok` answers true; the time it took, or Infinity after 30 s. */
  const recovery = async (ok: () => Promise<boolean>) => {
    const from = Date.now();
    while (Date.now() - from < 30_000) {
      if (await ok().catch(() => false)) return Date.now() - from;
      await sleep(100);
    }
    return Number.POSITIVE_INFINITY;
  };

  it('fails closed within 2 s while Redis is frozen, and lets the same token in again after the thaw', async () => {
    const token = await loginOnce(gatewayUrl, twilioUrl);
    expect(token).toBeDefined();
    const outcomes: Outcome[] = [];
    redis.freeze();
    try {
      await probeProtected(token!, 3_000, outcomes);
    } finally {
      redis.thaw();
    }
    const recoveryMs = await recovery(async () => (await timedCall(`${gatewayUrl}/api/auth/protected`, undefined, [], token)).status === 200);
    const s = record('Redis frozen (SIGSTOP 3 s)', outcomes, Number.isFinite(recoveryMs) ? recoveryMs : '');
    expect(s.requests).toBeGreaterThan(0);
    // Never open: every answer while frozen is a 503 (or a 200 that got in before the freeze bit).
    expect(outcomes.every((o) => o.status === 503 || o.status === 200)).toBe(true);
    expect(outcomes.some((o) => o.status === 503 && o.code === 'STORE_UNAVAILABLE')).toBe(true);
    expect(s.lost).toBe(0);
    expect(s.max).toBeLessThan(2_000);
    expect(recoveryMs).toBeLessThan(10_000);
  }, 300_000);

  it('fails closed within 2 s while Redis is down, and after it comes back empty refuses the tokens it forgot', async () => {
    const token = await loginOnce(gatewayUrl, twilioUrl);
    expect(token).toBeDefined();
    const outcomes: Outcome[] = [];
    await redis.stop('SIGKILL');
    await probeProtected(token!, 2_000, outcomes);
    await timedCall(`${gatewayUrl}/api/auth/send-verification`, { phone_number: '+14155559999' }, outcomes);
    // This redis-server keeps nothing on disk: it comes back empty, as after a lost volume.
    await redis.start();
    // Recovered when a new login works and the gateway's own Redis connection is back too (it
    // reconnects on its own schedule, and answers 503 until then): the old token is no longer a 503.
    let after: { status: number; ms: number; code?: string } = { status: 0, ms: 0 };
    const recoveryMs = await recovery(async () => {
      if ((await loginOnce(gatewayUrl, twilioUrl)) === undefined) return false;
      after = await timedCall(`${gatewayUrl}/api/auth/protected`, undefined, [], token);
      return after.status !== 503;
    });
    const s = record('Redis down, back empty', outcomes, Number.isFinite(recoveryMs) ? recoveryMs : '');
    expect(outcomes.every((o) => o.status === 503)).toBe(true);
    expect(s.max).toBeLessThan(2_000);
    expect(recoveryMs).toBeLessThan(10_000);
    single('token of a session Redis forgot', after.ms, 1, `${after.status} ${after.code ?? ''}`);
    expect(after.status).toBe(401);
    expect(after.code).toBe('TOKEN_REVOKED');
  }, 300_000);

  it('answers 503 within 2 s when a service has no replica left, and recovers when one comes back', async () => {
    await Promise.all([replicas['token-a'].stop('SIGTERM'), replicas['token-b'].stop('SIGTERM'), late?.stop('SIGTERM')]);
    const verifyOutcomes: Outcome[] = [];
    // Sending needs only auth-service; verifying needs token-service too.
    for (let i = 0; i < 5; i++) {
      const phone = `+1415555${String(8_000 + i).padStart(4, '0')}`;
      const sent = await fetch(`${gatewayUrl}/api/auth/send-verification`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone_number: phone }) });
      if (!sent.ok) continue;
      const res = await fetch(`${twilioUrl}/outbox?to=${encodeURIComponent(phone)}`);
      const code = ((await res.json()) as { messages: Array<{ code: string }> }).messages.at(-1)?.code;
      await timedCall(`${gatewayUrl}/api/auth/verify-code`, { phone_number: phone, code }, verifyOutcomes);
    }
    await replicas['token-a'].start();
    const recoveryMs = await recovery(async () => (await loginOnce(gatewayUrl, twilioUrl)) !== undefined);
    await replicas['token-b'].start();
    const s = record('no token-service replica left', verifyOutcomes, Number.isFinite(recoveryMs) ? recoveryMs : '');
    expect(verifyOutcomes.length).toBeGreaterThan(0);
    expect(verifyOutcomes.every((o) => o.status === 503 && o.code === 'SERVICE_UNAVAILABLE')).toBe(true);
    expect(s.max).toBeLessThan(2_000);
    expect(recoveryMs).toBeLessThan(10_000);
  }, 300_000);
});
