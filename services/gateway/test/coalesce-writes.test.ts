import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { coalesceWrites, flushHeldWrites } from '../src/http/coalesce-writes.ts';

const turnEnd = () => new Promise((resolve) => setImmediate(resolve));

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function listen(s: Server): Promise<number> {
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}

/** A server with coalesceWrites and `count` clients connected to it, each with the server's socket of its connection. */
async function connections(count = 1): Promise<Array<{ client: Socket; socket: Socket }>> {
  const s = createServer();
  coalesceWrites(s);
  const port = await listen(s);
  const pairs: Array<{ client: Socket; socket: Socket }> = [];
  // One at a time, so each client is paired with its own connection.
  for (let i = 0; i < count; i++) {
    const accepted = new Promise<Socket>((resolve) => s.once('connection', resolve));
    const client = connect(port, '127.0.0.1');
    pairs.push({ client, socket: await accepted });
  }
  return pairs;
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

describe('coalesceWrites', () => {
  it('holds a write until the end of the turn, then sends it', async () => {
    const { client, socket } = (await connections())[0]!;
    const received = new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())));
    let written = false;
    socket.write('hello', () => (written = true));
    // Held: still in the socket's buffer, its callback not yet run (a plain socket writes at once).
    expect(socket.writableLength).toBe(5);
    expect(written).toBe(false);
    await turnEnd();
    expect(socket.writableLength).toBe(0);
    expect(await received).toBe('hello');
    expect(written).toBe(true);
    client.destroy();
  });

  it('answers many requests on many connections, each with its own response', async () => {
    const s = createServer((req, res) => res.end(`answer to ${req.url}`));
    coalesceWrites(s);
    const port = await listen(s);
    const paths = Array.from({ length: 60 }, (_, i) => `/r${i}`);
    const answers = await Promise.all(paths.map((p) => get(port, p)));
    expect(answers).toEqual(paths.map((p) => ({ status: 200, body: `answer to ${p}` })));
  });

  it('keeps the order of the writes of one connection', async () => {
    const { client, socket } = (await connections())[0]!;
    let got = '';
    client.on('data', (d) => (got += d.toString()));
    for (let i = 0; i < 50; i++) {
      socket.write(`${i},`);
      if (i % 7 === 0) await turnEnd();
    }
    socket.end();
    await new Promise((resolve) => client.once('end', resolve));
    expect(got).toBe(Array.from({ length: 50 }, (_, i) => `${i},`).join(''));
  });

  it('still sends the writes after one whose callback threw', async () => {
    const pairs = await connections(3);
    const sockets = pairs.map((p) => p.socket);
    const clients = pairs.map((p) => p.client);
    const received = clients.map((c) => new Promise<string>((resolve) => c.once('data', (d) => resolve(d.toString()))));
    // Held writes with callbacks of our own (a socket's write() passes stream internals), in one turn.
    type RawWrite = (chunk: string, encoding: BufferEncoding, cb: () => void) => void;
    const rawWrite = (socket: Socket) => (socket as unknown as { _write: RawWrite })._write.bind(socket);
    rawWrite(sockets[0]!)('first', 'utf8', () => undefined);
    rawWrite(sockets[1]!)('second', 'utf8', () => {
      throw new Error('a finish listener failed');
    });
    rawWrite(sockets[2]!)('third', 'utf8', () => undefined);
    expect(() => flushHeldWrites()).toThrow('a finish listener failed');
    expect(await Promise.all(received)).toEqual(['first', 'second', 'third']);
    for (const c of clients) c.destroy();
  });

  it('reports a held write to a socket destroyed before the turn ended as failed, without throwing', async () => {
    const { client, socket } = (await connections())[0]!;
    client.on('error', () => undefined);
    socket.on('error', () => undefined);
    const settled = new Promise<Error | null | undefined>((resolve) => socket.write('late', resolve));
    socket.destroy();
    expect(await settled).toBeInstanceOf(Error);
    client.destroy();
  });
});
