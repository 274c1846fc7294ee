// Per-IP and per-phone limits of the gateway, and whom it believes about the client's address.
// No auth-service runs here: a request the limits let through answers 503, a limited one 429.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { InProcessBus } from '@repo/bus';
import { ConfigError, parseEnv } from '@repo/runtime';
import { MemorySessionStore } from '@repo/stores';
import { buildGateway, GatewayEnv } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const prefix = `test:gateway:${randomUUID()}:`;
const raw = new Redis(REDIS_URL);
const clients: Redis[] = [];
const gateways: Array<{ close(): Promise<unknown> }> = [];
afterAll(async () => {
  for (const g of gateways) await g.close();
  const left = await raw.keys(`${prefix}*`);
  if (left.length) await raw.del(...left);
  for (const c of clients) c.disconnect();
  raw.disconnect();
});

/** A gateway configured from env as in production (plus a test secret). */
async function gateway(env: NodeJS.ProcessEnv, redis?: Redis) {
  const settings = parseEnv(GatewayEnv, { LOG_LEVEL: 'silent', ...env });
  const app = await buildGateway({ settings, bus: new InProcessBus(), sessions: new MemorySessionStore(), ...(redis ? { redis } : {}) });
  gateways.push(app);
  return app;
}

const sendCode = (app: Awaited<ReturnType<typeof gateway>>, phone_number: string, headers: Record<string, string> = {}, remoteAddress?: string) =>
  app.inject({ method: 'POST', url: '/api/auth/send-verification', payload: { phone_number }, headers, ...(remoteAddress ? { remoteAddress } : {}) });

describe('per-IP limit', () => {
  it('applies to send-verification on top of its per-phone limit: many numbers from one IP are stopped', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '5', SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: '10' });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await sendCode(app, `+1415555${String(1000 + i)}`)).statusCode);
    expect(statuses).toEqual([503, 503, 503, 503, 503, 429, 429, 429]);
    // Another client is not affected.
    expect((await sendCode(app, '+14155552000', {}, '10.9.9.9')).statusCode).toBe(503);
  });

  it('counts requests that fail authentication: 401s spend the budget, on every route', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '3' });
    const protectedRoute = (headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: '/api/auth/protected', headers });
    expect((await protectedRoute()).json().code).toBe('TOKEN_MISSING');
    expect((await protectedRoute({ authorization: 'Bearer forged.token.here' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'DELETE', url: '/api/auth/logout-all' })).statusCode).toBe(401);
    const limited = await protectedRoute({ authorization: 'Bearer forged.token.here' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await sendCode(app, '+14155552001')).statusCode).toBe(429);
    expect((await app.inject({ method: 'GET', url: '/api/nope' })).statusCode).toBe(429);
    // Probes always get through.
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('tells every answer the client IP\'s budget (x-ratelimit-*), the 429 and 401s too, but not the health checks', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '3' });
    const budget = (res: { headers: Record<string, unknown> }) => [res.headers['x-ratelimit-limit'], res.headers['x-ratelimit-remaining'], Number(res.headers['x-ratelimit-reset']) > 0];
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await app.inject({ method: 'GET', url: '/api/auth/protected' }));
    expect(answers.map((r) => r.statusCode)).toEqual([401, 401, 401, 429]);
    expect(answers.map(budget)).toEqual([
      ['3', '2', true],
      ['3', '1', true],
      ['3', '0', true],
      ['3', '0', true],
    ]);
    expect((await app.inject({ method: 'GET', url: '/health' })).headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('counts an IPv6 client by its /64 (new addresses in it do not renew the budget), an IPv4-mapped one as its IPv4', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '2' });
    const from = async (remoteAddress: string) => (await app.inject({ method: 'GET', url: '/api/auth/protected', remoteAddress })).statusCode;
    expect([await from('2001:db8:1:2::1'), await from('2001:db8:1:2:aaaa::5'), await from('2001:db8:1:2:ffff:ffff:ffff:ffff')]).toEqual([401, 401, 429]);
    // The next /64 is another client.
    expect(await from('2001:db8:1:3::1')).toBe(401);
    expect([await from('192.0.2.7'), await from('::ffff:192.0.2.7'), await from('192.0.2.7')]).toEqual([401, 401, 429]);
  });

  it('is shared by gateway replicas through Redis, each sending its counts every 100 ms', async () => {
    const redis = new Redis(REDIS_URL, { keyPrefix: prefix });
    clients.push(redis);
    const env = { RATE_LIMIT_PER_IP_PER_MINUTE: '4' };
    const [a, b] = [await gateway(env, redis), await gateway(env, redis)];
    const ip = `10.1.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const statuses: number[] = [];
    const protectedFrom = (app: Awaited<ReturnType<typeof gateway>>) => app.inject({ method: 'GET', url: '/api/auth/protected', remoteAddress: ip });
    // Time for a sync after every request. A replica learns the others' counts when it sends its
    // own: a's third request is decided on what a knew (2 of its own) and passes, the tolerance.
    for (const app of [a, a, b, b, a, b, a, b]) {
      statuses.push((await protectedFrom(app)).statusCode);
      await sleep(300);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const keys = await raw.keys(`${prefix}rate-limit:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(await raw.pttl(key), key).toBeGreaterThan(0);
  });
});

describe('per-IP limit across replicas, at once', () => {
  it('lets a burst spread over two replicas exceed the limit by at most what one replica counted before syncing', async () => {
    const redis = new Redis(REDIS_URL, { keyPrefix: prefix });
    clients.push(redis);
    const limit = 20;
    const env = { RATE_LIMIT_PER_IP_PER_MINUTE: String(limit) };
    const [a, b] = [await gateway(env, redis), await gateway(env, redis)];
    const ip = `10.2.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const burst = (app: Awaited<ReturnType<typeof gateway>>) => Array.from({ length: 30 }, () => app.inject({ method: 'GET', url: '/api/auth/protected', remoteAddress: ip }));
    const first = await Promise.all([...burst(a), ...burst(b)]);
    const passed = first.filter((r) => r.statusCode !== 429).length;
    // Each replica alone stops at the limit; together at most twice it within one sync.
    expect(passed).toBeGreaterThanOrEqual(limit);
    expect(passed).toBeLessThanOrEqual(2 * limit);
    await sleep(300);
    // Once synced, both replicas know the client is over its limit.
    expect((await a.inject({ method: 'GET', url: '/api/auth/protected', remoteAddress: ip })).statusCode).toBe(429);
    expect((await b.inject({ method: 'GET', url: '/api/auth/protected', remoteAddress: ip })).statusCode).toBe(429);
  });
});

describe('per-IP limit of send-verification', () => {
  it('stops one client asking for codes to many numbers (SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR), not its other requests', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '1000', SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: '3' });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await sendCode(app, `+1415555${6000 + i}`)).statusCode);
    expect(statuses).toEqual([503, 503, 503, 429, 429]);
    const limited = await sendCode(app, '+14155556010');
    expect(limited.json().code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(3_000);
    expect((await sendCode(app, '+14155556011', {}, '10.7.7.7')).statusCode).toBe(503);
    expect((await app.inject({ method: 'POST', url: '/api/auth/refresh' })).json().code).toBe('TOKEN_MISSING');
  });

  it('defaults to 30 codes per IP and hour', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '1000' });
    const statuses = [];
    for (let i = 0; i < 31; i++) statuses.push((await sendCode(app, `+1415555${7000 + i}`)).statusCode);
    expect(statuses.filter((s) => s === 503)).toHaveLength(30);
    expect(statuses.at(-1)).toBe(429);
  });
});

describe('per-phone limit of send-verification', () => {
  it('counts one phone however it is typed (its E.164 form)', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '1000', SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: '3' });
    const statuses = [];
    for (const typed of ['+14155550001', '+1 1 415 555 0001', '1 (415) 555-0001', '+1-415-555-0001']) statuses.push((await sendCode(app, typed)).statusCode);
    expect(statuses).toEqual([503, 503, 503, 429]);
    const limited = await sendCode(app, '+14155550001');
    expect(limited.json().code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(3_000);
    expect((await sendCode(app, '+14155550002')).statusCode).toBe(503);
  });
});

describe('send-verification limits in Redis', () => {
  it('count per IP, then per phone, across replicas, in one round trip; a request the per-IP limit refuses spends none of the phone\'s budget', async () => {
    const redis = new Redis(REDIS_URL, { keyPrefix: prefix });
    clients.push(redis);
    const env = { RATE_LIMIT_PER_IP_PER_MINUTE: '1000', SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: '2', SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: '3' };
    const [a, b] = [await gateway(env, redis), await gateway(env, redis)];
    const phone = `+1415555${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`;
    const ip = () => `10.2.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const attacker = ip();
    const sent = async (app: typeof a, from: string) => (await sendCode(app, phone, {}, from)).statusCode;
    const commands = await countCommands(async () => {
      expect(await sent(a, attacker)).toBe(503);
    });
    expect(commands).toBe(1);
    // The attacker's IP runs out on the other replica; its refused requests leave the number alone.
    expect([await sent(b, attacker), await sent(a, attacker), await sent(b, attacker)]).toEqual([503, 429, 429]);
    expect([await sent(a, ip()), await sent(b, ip())]).toEqual([503, 429]);
    const limited = await sendCode(a, phone, {}, ip());
    expect(limited.json().code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(3_000);
    for (const key of await raw.keys(`${prefix}rate-limit:send*`)) expect(await raw.pttl(key), key).toBeGreaterThan(0);
  });
});

/** Redis commands on send-verification's counters that `run` sent (a script counts once), as MONITOR shows them. */
async function countCommands(run: () => Promise<void>): Promise<number> {
  const monitor = await raw.monitor();
  const marker = `${prefix}marker:${randomUUID()}`;
  const seen: string[] = [];
  let markerSeen!: () => void;
  const done = new Promise<void>((resolve) => (markerSeen = resolve));
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (args.includes(marker)) markerSeen();
    else if (source !== 'lua' && args.some((a) => a.startsWith(`${prefix}rate-limit:send`))) seen.push(args.join(' '));
  });
  try {
    await run();
    // Everything run sent is in the feed before this.
    await raw.exists(marker);
    await done;
  } finally {
    monitor.disconnect();
  }
  return seen.length;
}

describe('TRUST_PROXY', () => {
  it('off by default: X-Forwarded-For cannot choose the rate-limit key', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '2' });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await sendCode(app, `+1415555${3000 + i}`, { 'x-forwarded-for': `203.0.113.${i}` })).statusCode);
    expect(statuses).toEqual([503, 503, 429, 429]);
  });

  it('with a hop count, only the address the trusted proxy saw counts, whatever the client prepends', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '2', TRUST_PROXY: '1' });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await sendCode(app, `+1415555${4000 + i}`, { 'x-forwarded-for': `198.51.100.${i}, 203.0.113.7` })).statusCode);
    expect(statuses).toEqual([503, 503, 429]);
    expect((await sendCode(app, '+14155554010', { 'x-forwarded-for': '203.0.113.8' })).statusCode).toBe(503);
  });

  it('with proxy addresses, trusts X-Forwarded-For only from them', async () => {
    const app = await gateway({ RATE_LIMIT_PER_IP_PER_MINUTE: '1', TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' });
    expect((await sendCode(app, '+14155555000', { 'x-forwarded-for': '203.0.113.20' }, '10.2.3.4')).statusCode).toBe(503);
    expect((await sendCode(app, '+14155555001', { 'x-forwarded-for': '203.0.113.21' }, '10.2.3.4')).statusCode).toBe(503);
    // From an untrusted peer the header is ignored: the peer's own address is the key.
    expect((await sendCode(app, '+14155555002', { 'x-forwarded-for': '203.0.113.22' }, '192.0.2.1')).statusCode).toBe(503);
    expect((await sendCode(app, '+14155555003', { 'x-forwarded-for': '203.0.113.23' }, '192.0.2.1')).statusCode).toBe(429);
  });

  it('refuses true, and anything that is not a hop count or addresses, with one line', async () => {
    const base = { NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL };
    expect(() => loadConfig({ ...base, TRUST_PROXY: 'true' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, TRUST_PROXY: 'TRUE' })).toThrow(/^TRUST_PROXY=true is refused: it trusts every hop/);
    expect(() => loadConfig({ ...base, TRUST_PROXY: 'yes' })).toThrow(/^TRUST_PROXY is invalid at "yes"/);
    expect(() => loadConfig({ ...base, TRUST_PROXY: '10.0.0.0/33' })).toThrow(/^TRUST_PROXY is invalid at "10.0.0.0\/33"/);
    expect(loadConfig({ ...base, TRUST_PROXY: '2' }).TRUST_PROXY).toBe('2');
    await expect(gateway({ TRUST_PROXY: 'true' })).rejects.toThrow(ConfigError);
  });
});
