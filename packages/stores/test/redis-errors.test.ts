// How Redis failures reach the client: an outage (no connection, no answer in time) is a 503 to
// retry; anything else is a bug, a 500 with its cause for the log. Against the real Redis, a
// closed port, and a proxy in front of the real Redis that stops forwarding (a frozen Redis).
import { randomUUID } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Redis, ReplyError, type RedisOptions } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '@repo/contracts';
import { guardRedis, RedisVerificationLog } from '../src/index.ts';

const REDIS = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
// The failure settings of createRedis (@repo/runtime): no offline queue, one retry, short timeouts.
const failFast: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 700,
  enableAutoPipelining: true,
  retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
};
const clients: Redis[] = [];
function client(url: string): Redis {
  const redis = new Redis(url, { ...failFast, keyPrefix: `test:${randomUUID()}:` });
  redis.on('error', () => undefined);
  clients.push(redis);
  return redis;
}
afterAll(() => {
  for (const c of clients) c.disconnect();
});
/** Connected: without an offline queue, a command sent before that fails at once. */
async function ready(redis: Redis): Promise<Redis> {
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** A TCP proxy to the real Redis that can stop forwarding: the connection stays up, nothing answers. */
class FreezableProxy {
  frozen = false;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server = createServer((downstream) => {
    const upstream = createConnection({ host: REDIS.hostname, port: Number(REDIS.port || 6379) });
    for (const s of [downstream, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined).on('close', () => {
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.on('data', (chunk) => this.frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => this.frozen || downstream.write(chunk));
  });

  async listen(): Promise<string> {
    // Port 0: the kernel picks a free port and it stays ours while we listen.
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = this.server.address() as { port: number };
    const url = new URL(REDIS);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    return url.toString();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('guardRedis', () => {
  it('maps a bug in a store (TypeError, a reply that is not JSON) to INTERNAL, keeping the cause', async () => {
    const typeError = await failure(
      guardRedis(async () => {
        const record = undefined as unknown as { field: string };
        return record.field;
      }),
    );
    expect(typeError).toMatchObject({ code: 'INTERNAL', statusCode: 500 });
    expect(typeError.cause).toBeInstanceOf(TypeError);
    const parse = await failure(guardRedis(async () => JSON.parse('{not json') as unknown));
    expect(parse).toMatchObject({ code: 'INTERNAL', statusCode: 500 });
    expect(parse.cause).toBeInstanceOf(SyntaxError);
  });

  it('maps a failing script to INTERNAL, a transient reply (LOADING, READONLY...) to STORE_UNAVAILABLE', async () => {
    const redis = await ready(client(REDIS.toString()));
    const script = await failure(guardRedis(() => redis.eval("return redis.error_reply('boom')", 0)));
    expect(script).toMatchObject({ code: 'INTERNAL', statusCode: 500 });
    expect(script.cause).toBeInstanceOf(ReplyError);
    for (const reply of ['LOADING Redis is loading the dataset in memory', 'READONLY You can\'t write against a read only replica.']) {
      expect(await failure(guardRedis(() => Promise.reject(new ReplyError(reply) as Error))), reply).toMatchObject({ code: 'STORE_UNAVAILABLE', statusCode: 503 });
    }
  });

  it('maps socket failures (ECONNRESET, ETIMEDOUT...) to STORE_UNAVAILABLE, other coded errors to INTERNAL', async () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']) {
      const err = Object.assign(new Error(`connect ${code}`), { code });
      expect(await failure(guardRedis(() => Promise.reject(err))), code).toMatchObject({ code: 'STORE_UNAVAILABLE', retryAfter: 1 });
    }
    const notAnOutage = Object.assign(new Error('bad argument'), { code: 'ERR_INVALID_ARG_TYPE' });
    expect(await failure(guardRedis(() => Promise.reject(notAnOutage)))).toMatchObject({ code: 'INTERNAL' });
  });
});

describe('a store whose Redis is down', () => {
  it('answers STORE_UNAVAILABLE at once when nothing listens on the port', async () => {
    const log = new RedisVerificationLog(client('redis://127.0.0.1:1'));
    const started = Date.now();
    expect(await failure(log.lastCode('+14155550100'))).toMatchObject({ code: 'STORE_UNAVAILABLE', statusCode: 503, retryAfter: 1 });
    expect(await failure(log.recordApproval('+14155550100', 'hash', 60))).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    // No offline queue: it fails, it does not wait for a connection.
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('answers STORE_UNAVAILABLE after commandTimeout when Redis is frozen (connected, silent)', async () => {
    const proxy = new FreezableProxy();
    const redis = await ready(client(await proxy.listen()));
    try {
      const log = new RedisVerificationLog(redis);
      await log.recordSent('+14155550101', 60);
      expect(await log.lastCode('+14155550101')).toBe('sent');
      proxy.frozen = true;
      const single = await failure(log.lastCode('+14155550101'));
      expect(single).toMatchObject({ code: 'STORE_UNAVAILABLE', statusCode: 503 });
      expect((single.cause as Error).message).toBe('Command timed out');
      // A MULTI too (each command times out).
      expect(await failure(log.markUsed('+14155550101', 'hash', 60))).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    } finally {
      await proxy.close();
    }
  });
});
