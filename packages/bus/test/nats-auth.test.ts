// How a service logs in to NATS: nkey seeds, user/password, TLS with a private CA. Each on a
// private nats-server configured for it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { nkeys } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineEndpoint } from '@repo/contracts';
import { handle, NatsBus, type BusLogger } from '../src/index.ts';
import { NatsServerProcess } from '@repo/test-support';

/** Each test starts a nats-server (up to 60 s on a busy machine) and waits up to 30 s to connect. */
const PROCESS_TEST_TIMEOUT_MS = 180_000;
const silent: BusLogger = { info() {}, warn() {}, error() {}, child: () => silent };
const echo = defineEndpoint(`auth${randomUUID().slice(0, 8)}.echo.call`, Type.Object({ n: Type.Integer() }), Type.Object({ n: Type.Integer() }));
const dir = mkdtempSync(join(tmpdir(), 'bus-nats-auth-'));
const buses: NatsBus[] = [];
const servers: NatsServerProcess[] = [];

function bus(options: Omit<ConstructorParameters<typeof NatsBus>[0], 'log' | 'name'>): NatsBus {
  const b = new NatsBus({ name: `auth-test-${buses.length}`, log: silent, ...options });
  buses.push(b);
  return b;
}

async function server(config: string): Promise<NatsServerProcess> {
  const file = join(dir, `${randomUUID()}.conf`);
  writeFileSync(file, config);
  const s = await NatsServerProcess.onFreePort(['-c', file]);
  servers.push(s);
  await s.start();
  return s;
}

afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('NatsBus credentials', () => {
  it('logs in with an nkey seed, and is refused (without crashing) without one', async () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const s = await server(`authorization { users: [ { nkey: ${user.getPublicKey()} } ] }`);
    const good = bus({ url: s.url, auth: { nkeySeed: seed } });
    expect(await good.whenConnected(30_000)).toBe(true);
    await good.serve({ name: 'nkey-echo', version: '1.0.0', log: silent }, [handle(echo, async ({ n }) => ({ n: n + 1 }))]);
    await expect(good.request(echo, { n: 1 })).resolves.toEqual({ n: 2 });

    const anonymous = bus({ url: s.url });
    expect(await anonymous.whenConnected(2_000)).toBe(false);
    const started = Date.now();
    await expect(anonymous.request(echo, { n: 1 })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(500);
  }, PROCESS_TEST_TIMEOUT_MS);

  it('logs in with user and password, and a wrong password never connects', async () => {
    const s = await server(`authorization { users: [ { user: svc, password: "right-password" } ] }`);
    expect(await bus({ url: s.url, auth: { user: 'svc', password: 'right-password' } }).whenConnected(30_000)).toBe(true);
    expect(await bus({ url: s.url, auth: { user: 'svc', password: 'wrong-password' } }).whenConnected(2_000)).toBe(false);
  }, PROCESS_TEST_TIMEOUT_MS);
});

describe('NatsBus over TLS', () => {
  let caFile = '';
  let tlsServer: NatsServerProcess;

  beforeAll(async () => {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.pem');
    caFile = join(dir, 'ca.pem');
    tlsServer = await server(`tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}" }`);
  }, PROCESS_TEST_TIMEOUT_MS);

  it('connects to a tls:// URL with the CA that signed the server certificate', async () => {
    const b = bus({ url: `tls://127.0.0.1:${tlsServer.port}`, tls: { caFile } });
    expect(await b.whenConnected(30_000)).toBe(true);
    await b.serve({ name: 'tls-echo', version: '1.0.0', log: silent }, [handle(echo, async ({ n }) => ({ n: n * 2 }))]);
    await expect(b.request(echo, { n: 21 })).resolves.toEqual({ n: 42 });
  });

  it('does not connect when it cannot verify the server certificate', async () => {
    expect(await bus({ url: `tls://127.0.0.1:${tlsServer.port}` }).whenConnected(2_000)).toBe(false);
  });
});
