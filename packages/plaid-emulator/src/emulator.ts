// SCRATCH (not committed): a minimal stand-in for @repo/plaid-emulator until it lands.
import { createHash, randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export async function startPlaidEmulator(opts: { clientId?: string; secret?: string; productNotReadyMs?: number; port?: number } = {}) {
  const clientId = opts.clientId ?? 'emulator-client-id';
  const secret = opts.secret ?? 'emulator-secret';
  const keys = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig', created_at: 1, expired_at: null };
  const publicTokens = new Map<string, { webhook?: string }>();
  type Ev = { kind: 'added' | 'modified' | 'removed'; t: Record<string, unknown> };
  const items = new Map<string, { itemId: string; created: number; webhook?: string; log: Ev[] }>();
  let failNext: { error_type: string; error_code: string; status?: number } | undefined;
  const app = Fastify();
  const err = (status: number, error_type: string, error_code: string) => ({ status, body: { error_type, error_code, error_message: error_code, display_message: null, request_id: 'r' } });
  app.addHook('preHandler', async (req, reply) => {
    if (req.url.startsWith('/_emulator')) return;
    const b = (req.body ?? {}) as Record<string, unknown>;
    const cid = req.headers['plaid-client-id'] ?? b.client_id;
    const sec = req.headers['plaid-secret'] ?? b.secret;
    if (cid !== clientId || sec !== secret) return reply.status(400).send(err(400, 'INVALID_INPUT', 'INVALID_API_KEYS').body);
    if (failNext) {
      const f = failNext;
      failNext = undefined;
      return reply.status(f.status ?? 400).send(err(f.status ?? 400, f.error_type, f.error_code).body);
    }
  });
  const item = (b: Record<string, unknown>) => [...items.values()].find((i) => `access-sandbox-${i.itemId}` === b.access_token);
  app.post('/_emulator/fail-next', async (req) => {
    failNext = req.body as typeof failNext;
    return { ok: true };
  });
  app.post('/link/token/create', async () => ({ link_token: `link-sandbox-${randomUUID()}`, expiration: new Date(Date.now() + 4 * 3600_000).toISOString(), request_id: 'r' }));
  app.post('/sandbox/public_token/create', async (req) => {
    const b = req.body as { options?: { webhook?: string } };
    const t = `public-sandbox-${randomUUID()}`;
    publicTokens.set(t, b.options?.webhook ? { webhook: b.options.webhook } : {});
    return { public_token: t, request_id: 'r' };
  });
  app.post('/item/public_token/exchange', async (req, reply) => {
    const b = req.body as { public_token: string };
    const p = publicTokens.get(b.public_token);
    if (!p) return reply.status(400).send(err(400, 'INVALID_INPUT', 'INVALID_PUBLIC_TOKEN').body);
    publicTokens.delete(b.public_token);
    const itemId = randomUUID().replaceAll('-', '');
    const log: Ev[] = [];
    const start = Date.parse('2024-01-01');
    for (let i = 0; i < 300; i += 1) {
      log.push({ kind: 'added', t: { transaction_id: `${itemId}-t${i}`, account_id: i % 3 === 0 ? 'acc-sav' : 'acc-chk', amount: i + 0.5, iso_currency_code: 'USD', date: new Date(start + Math.floor(i * 2.4) * 86400000).toISOString().slice(0, 10), name: `Shop ${i}`, pending: false, payment_channel: 'online', authorized_date: null } });
    }
    items.set(itemId, { itemId, created: Date.now(), ...(p.webhook ? { webhook: p.webhook } : {}), log });
    return { access_token: `access-sandbox-${itemId}`, item_id: itemId, request_id: 'r' };
  });
  app.post('/accounts/get', async (req, reply) => {
    const i = item(req.body as Record<string, unknown>);
    if (!i) return reply.status(400).send(err(400, 'INVALID_INPUT', 'INVALID_ACCESS_TOKEN').body);
    const acc = (id: string, name: string) => ({ account_id: id, name, official_name: null, mask: '0000', type: 'depository', subtype: 'checking', balances: { available: 100, current: 110, limit: null, iso_currency_code: 'USD' } });
    return { accounts: [acc('acc-chk', 'Checking'), acc('acc-sav', 'Savings')], item: { item_id: i.itemId, institution_id: 'ins_109508', institution_name: 'First Platypus Bank' }, request_id: 'r' };
  });
  app.post('/transactions/sync', async (req, reply) => {
    const b = req.body as { cursor?: string; count?: number };
    const i = item(req.body as Record<string, unknown>);
    if (!i) return reply.status(400).send(err(400, 'INVALID_INPUT', 'INVALID_ACCESS_TOKEN').body);
    if (Date.now() - i.created < (opts.productNotReadyMs ?? 0)) return { added: [], modified: [], removed: [], next_cursor: '', has_more: false, transactions_update_status: 'NOT_READY', accounts: [], request_id: 'r' };
    const from = b.cursor ? Number(b.cursor) : 0;
    const count = b.count ?? 100;
    const evs = i.log.slice(from, from + count);
    return {
      added: evs.filter((e) => e.kind === 'added').map((e) => e.t),
      modified: evs.filter((e) => e.kind === 'modified').map((e) => e.t),
      removed: evs.filter((e) => e.kind === 'removed').map((e) => ({ transaction_id: e.t.transaction_id, account_id: e.t.account_id })),
      next_cursor: String(from + evs.length),
      has_more: from + evs.length < i.log.length,
      transactions_update_status: 'HISTORICAL_UPDATE_COMPLETE',
      accounts: [],
      request_id: 'r',
    };
  });
  app.post('/item/remove', async (req, reply) => {
    const i = item(req.body as Record<string, unknown>);
    if (!i) return reply.status(400).send(err(400, 'INVALID_INPUT', 'INVALID_ACCESS_TOKEN').body);
    items.delete(i.itemId);
    return { request_id: 'r' };
  });
  app.post('/webhook_verification_key/get', async (req, reply) => {
    if ((req.body as { key_id?: string }).key_id !== 'k1') return reply.status(400).send(err(400, 'INVALID_INPUT', 'INVALID_WEBHOOK_VERIFICATION_KEY_ID').body);
    return { key: jwk, request_id: 'r' };
  });
  app.post('/sandbox/item/fire_webhook', async (req, reply) => {
    const i = item(req.body as Record<string, unknown>);
    if (!i) return reply.status(400).send(err(400, 'INVALID_INPUT', 'INVALID_ACCESS_TOKEN').body);
    const first = i.log[0]!.t;
    const second = i.log[1]!.t;
    i.log.push({ kind: 'modified', t: { ...first, amount: 999.99, name: 'Modified' } }, { kind: 'removed', t: second });
    const body = JSON.stringify({ webhook_type: 'TRANSACTIONS', webhook_code: 'SYNC_UPDATES_AVAILABLE', item_id: i.itemId, initial_update_complete: true, historical_update_complete: true, environment: 'sandbox' });
    const jwt = await new SignJWT({ request_body_sha256: createHash('sha256').update(body).digest('hex') }).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' }).setIssuedAt().sign(keys.privateKey);
    const res = await fetch(i.webhook!, { method: 'POST', headers: { 'content-type': 'application/json', 'plaid-verification': jwt }, body });
    return { webhook_fired: res.ok, request_id: 'r' };
  });
  const url = await app.listen({ port: opts.port ?? 0, host: '127.0.0.1' });
  return { url, app, close: () => app.close() };
}
