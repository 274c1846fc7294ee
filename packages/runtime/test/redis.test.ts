// REDIS_URL=rediss://… must mean TLS to Redis. A plain TCP server stands in for Redis and shows
// what the client sends first: a TLS ClientHello for rediss://, a RESP command for redis://.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/env.ts';
import { createRedis, redisTargetOf } from '../src/redis.ts';

const quiet = { warn() {}, info() {} };

interface Listener {
  port: number;
  firstBytes: Promise<Buffer>;
  close(): Promise<void>;
}

/** Listens on loopback and resolves with the first bytes a client sends on its first connection. */
async function listen(): Promise<Listener> {
  const sockets = new Set<Socket>();
  let server!: Server;
  const firstBytes = new Promise<Buffer>((resolve) => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      let got = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= 6) resolve(got);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    firstBytes,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const within = <T>(work: Promise<T>, ms: number) =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`nothing arrived within ${ms} ms`)), ms))]);

describe('createRedis', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('speaks TLS for a rediss:// URL: the first bytes are a TLS ClientHello', async () => {
    const server = await listen();
    cleanup.push(() => server.close());
    const redis = createRedis(`rediss://:secret@127.0.0.1:${server.port}`, 'test:', quiet);
    cleanup.push(() => redis.disconnect());
    const bytes = await within(server.firstBytes, 20_000);
    expect(bytes[0]).toBe(0x16); // TLS record: handshake
    expect(bytes[1]).toBe(0x03); // TLS major version
    expect(bytes[5]).toBe(0x01); // handshake message: ClientHello
    // Nothing of the password went out in the clear.
    expect(bytes.includes(Buffer.from('secret'))).toBe(false);
  });

  it('speaks plain RESP for a redis:// URL (the check above can tell them apart)', async () => {
    const server = await listen();
    cleanup.push(() => server.close());
    const redis = createRedis(`redis://:secret@127.0.0.1:${server.port}`, 'test:', quiet);
    cleanup.push(() => redis.disconnect());
    const bytes = await within(server.firstBytes, 20_000);
    expect(String.fromCharCode(bytes[0]!)).toBe('*'); // a RESP array: a command such as AUTH
    expect(bytes[0]).not.toBe(0x16);
  });

  it('asks the Sentinels for the primary with REDIS_SENTINELS, under REDIS_SENTINEL_NAME', async () => {
    // A stand-in Sentinel that records what it is asked and answers +OK to every command.
    let asked = '';
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        const text = chunk.toString('latin1');
        asked += text;
        for (const _ of text.matchAll(/(^|\r\n)\*\d+\r\n/g)) socket.write('+OK\r\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    );
    const port = (server.address() as { port: number }).port;
    const redis = createRedis(redisTargetOf({ REDIS_URL: 'redis://:secret@ignored:1', REDIS_SENTINELS: `127.0.0.1:${port}`, REDIS_SENTINEL_NAME: 'phone-login' }), 'test:', quiet);
    cleanup.push(() => redis.disconnect());
    const deadline = Date.now() + 20_000;
    while (!asked.toLowerCase().includes('phone-login') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const text = asked.toLowerCase();
    expect(text).toContain('sentinel');
    expect(text).toContain('get-master-addr-by-name');
    expect(text).toContain('phone-login');
    // The primary's password is not the Sentinels' (REDIS_SENTINEL_PASSWORD is unset).
    expect(text).not.toContain('secret');
  });

  it('needs REDIS_URL or REDIS_SENTINELS', () => {
    expect(() => redisTargetOf({})).toThrow(ConfigError);
    expect(() => redisTargetOf({})).toThrow(/REDIS_URL or REDIS_SENTINELS is required/);
    expect(redisTargetOf({ REDIS_SENTINELS: 'a:26379,b:26379' })).toMatchObject({ sentinels: 'a:26379,b:26379' });
  });
});
