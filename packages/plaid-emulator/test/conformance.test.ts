// Conformance: every answer of the emulator in realistic flows (success and error) and every webhook
// it sends, checked against the pinned subset of Plaid's OpenAPI spec (spec/, see its x-source).
// Objects are checked closed: a field the spec does not declare is a mismatch too.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Configuration, PlaidApi, type Products } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaidEmulator, type StartedPlaidEmulator } from '../src/index.ts';
import { SPEC_ENDPOINTS, SPEC_WEBHOOKS } from '../src/spec-endpoints.ts';
import { pinnedSpec, responseMismatches, webhookMismatches } from '../src/spec.ts';
import { eventually, webhooksDelivered } from '@repo/test-support';

const CLIENT_ID = 'conformance-client';
const SECRET = 'conformance-secret';
const NOT_READY_MS = 10_000;
const HISTORICAL_MS = 10_000;

interface Exchange {
  path: string;
  status: number;
  body: unknown;
}

/** A loopback proxy in front of the emulator that keeps every answer as the SDK received it. */
async function recordingProxy(target: string): Promise<{ url: string; exchanges: Exchange[]; server: Server }> {
  const exchanges: Exchange[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      const answer = await fetch(`${target}${req.url}`, { method: req.method ?? 'POST', headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) });
      const text = await answer.text();
      exchanges.push({ path: (req.url ?? '').split('?')[0]!, status: answer.status, body: JSON.parse(text) as unknown });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exchanges, server };
}

async function failure(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    const data = (err as { response?: { data?: { error_code?: string } } }).response?.data;
    if (data?.error_code) return data.error_code;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('emulator conformance to Plaid\'s OpenAPI spec', () => {
  let clock = Date.parse('2026-06-15T12:00:00Z');
  let emulator: StartedPlaidEmulator;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let hook: Server;
  let hookUrl: string;
  let plaid: PlaidApi;
  let lastKeyId = 'none';

  beforeAll(async () => {
    emulator = await startPlaidEmulator({ clientId: CLIENT_ID, secret: SECRET, productNotReadyMs: NOT_READY_MS, historicalUpdateMs: HISTORICAL_MS, now: () => clock, webhookRetryDelaysMs: [] });
    proxy = await recordingProxy(emulator.url);
    hook = createServer((req, res) => {
      const jwt = req.headers['plaid-verification'];
      if (typeof jwt === 'string') lastKeyId = (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
      req.resume();
      req.on('end', () => res.writeHead(200).end('{}'));
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    plaid = new PlaidApi(new Configuration({ basePath: proxy.url, baseOptions: { headers: { 'PLAID-CLIENT-ID': CLIENT_ID, 'PLAID-SECRET': SECRET } } }));
  });
  afterAll(async () => {
    await emulator.close();
    await new Promise((resolve) => proxy.server.close(resolve));
    await new Promise((resolve) => hook.close(resolve));
  });

  it('answers realistic flows, success and error, only with bodies the spec allows', async () => {
    const emulatorPost = (path: string, body: object) => fetch(`${emulator.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const user = { client_user_id: 'user-1' };
    const transactions = ['transactions' as Products];

    // Link and first pull.
    await plaid.linkTokenCreate({ client_name: 'App', language: 'en', country_codes: ['US' as never], products: transactions, user, transactions: { days_requested: 730 }, webhook: hookUrl });
    const { data: pub } = await plaid.sandboxPublicTokenCreate({ institution_id: 'ins_109508', initial_products: transactions, options: { webhook: hookUrl, transactions: { days_requested: 730 } } });
    const { data: item } = await plaid.itemPublicTokenExchange({ public_token: pub.public_token });
    const token = item.access_token;
    await plaid.itemGet({ access_token: token });
    await plaid.accountsGet({ access_token: token });
    await plaid.transactionsSync({ access_token: token });
    clock += NOT_READY_MS;
    let cursor = (await plaid.transactionsSync({ access_token: token, count: 500 })).data.next_cursor;
    clock += HISTORICAL_MS;
    await plaid.itemGet({ access_token: token });
    for (let more = true; more; ) {
      const { data } = await plaid.transactionsSync({ access_token: token, cursor, count: 120 });
      cursor = data.next_cursor;
      more = data.has_more;
    }
    const { data: accounts } = await plaid.accountsGet({ access_token: token });
    await plaid.transactionsSync({ access_token: token, options: { account_id: accounts.accounts[0]!.account_id } });

    // Updates and webhooks.
    for (const code of ['SYNC_UPDATES_AVAILABLE', 'DEFAULT_UPDATE', 'NEW_ACCOUNTS_AVAILABLE', 'PENDING_DISCONNECT', 'USER_ACCOUNT_REVOKED']) {
      await plaid.sandboxItemFireWebhook({ access_token: token, webhook_code: code as never });
    }
    await plaid.transactionsSync({ access_token: token, cursor });
    await plaid.transactionsSync({ access_token: token, cursor: 'now' });
    const first = await plaid.transactionsSync({ access_token: token, count: 50 });
    await emulatorPost(`/_emulator/items/${item.item_id}/mutate-during-pagination`, {});
    expect(await failure(plaid.transactionsSync({ access_token: token, count: 50, cursor: first.data.next_cursor }))).toBe('TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION');
    await plaid.webhookVerificationKeyGet({ key_id: await eventually('a signed webhook', () => (lastKeyId === 'none' ? undefined : lastKeyId)) });

    // Item errors.
    await plaid.sandboxItemResetLogin({ access_token: token });
    await plaid.itemGet({ access_token: token });
    expect(await failure(plaid.accountsGet({ access_token: token }))).toBe('ITEM_LOGIN_REQUIRED');
    await plaid.sandboxItemFireWebhook({ access_token: token, webhook_code: 'LOGIN_REPAIRED' as never });
    await emulatorPost(`/_emulator/items/${item.item_id}/item-error`, { webhook_code: 'PENDING_EXPIRATION' });
    await emulatorPost(`/_emulator/items/${item.item_id}/item-error`, { webhook_code: 'PENDING_DISCONNECT', reason: 'INSTITUTION_MIGRATION' });
    await plaid.accountsGet({ access_token: token });
    await plaid.itemGet({ access_token: token });
    await emulatorPost(`/_emulator/items/${item.item_id}/item-error`, { webhook_code: 'ERROR' });
    // Repaired through Link's update mode: a link token for the item, no products, no webhook after.
    const updateMode = await plaid.linkTokenCreate({ client_name: 'App', language: 'en', country_codes: ['US' as never], user, access_token: token });
    expect((await emulatorPost(`/_emulator/items/${item.item_id}/repair`, { link_token: updateMode.data.link_token })).status).toBe(200);
    await plaid.itemGet({ access_token: token });
    await plaid.accountsGet({ access_token: token });
    await plaid.sandboxItemFireWebhook({ access_token: token, webhook_code: 'USER_PERMISSION_REVOKED' as never });
    await plaid.itemGet({ access_token: token });
    expect(await failure(plaid.transactionsSync({ access_token: token }))).toBe('USER_PERMISSION_REVOKED');

    // Request errors.
    const noHook = (await plaid.itemPublicTokenExchange({ public_token: (await plaid.sandboxPublicTokenCreate({ institution_id: 'ins_109509', initial_products: transactions })).data.public_token })).data;
    expect(await failure(plaid.sandboxItemFireWebhook({ access_token: noHook.access_token, webhook_code: 'SYNC_UPDATES_AVAILABLE' as never }))).toBe('SANDBOX_WEBHOOK_INVALID');
    expect(await failure(plaid.sandboxItemFireWebhook({ access_token: noHook.access_token, webhook_code: 'PRODUCT_READY' as never }))).toBe('SANDBOX_PRODUCT_NOT_ENABLED');
    expect(await failure(plaid.sandboxItemFireWebhook({ access_token: noHook.access_token, webhook_code: 'MADE_UP' as never }))).toBe('INVALID_FIELD');
    expect(await failure(plaid.accountsGet({} as never))).toBe('MISSING_FIELDS');
    expect(await failure(plaid.itemGet({ access_token: token, extra: 1 } as never))).toBe('UNKNOWN_FIELDS');
    expect(await failure(plaid.linkTokenCreate({ client_name: 'App', language: 'en', country_codes: ['ZZ' as never], products: transactions, user }))).toBe('INVALID_FIELD');
    expect(await failure(plaid.linkTokenCreate({ client_name: 'App', language: 'en', country_codes: ['US' as never], products: ['balance' as Products], user }))).toBe('INVALID_PRODUCT');
    expect(await failure(plaid.itemPublicTokenExchange({ public_token: pub.public_token }))).toBe('INVALID_PUBLIC_TOKEN');
    expect(await failure(plaid.linkTokenCreate({ client_name: 'App', language: 'en', country_codes: ['US' as never], user, access_token: 'access-sandbox-garbage' }))).toBe('INVALID_ACCESS_TOKEN');
    expect(await failure(plaid.sandboxPublicTokenCreate({ institution_id: 'ins_nope', initial_products: transactions }))).toBe('INVALID_INSTITUTION');
    expect(await failure(plaid.webhookVerificationKeyGet({ key_id: 'nope' }))).toBe('INVALID_WEBHOOK_VERIFICATION_KEY_ID');
    expect(await failure(plaid.accountsGet({ access_token: 'access-sandbox-garbage' }))).toBe('INVALID_ACCESS_TOKEN');
    expect(await failure(new PlaidApi(new Configuration({ basePath: proxy.url, baseOptions: { headers: { 'PLAID-CLIENT-ID': CLIENT_ID, 'PLAID-SECRET': 'wrong' } } })).itemGet({ access_token: token }))).toBe('INVALID_API_KEYS');
    await emulatorPost('/_emulator/fail-next', { error_type: 'RATE_LIMIT_EXCEEDED', error_code: 'RATE_LIMIT_EXCEEDED', status: 429 });
    expect(await failure(plaid.itemGet({ access_token: noHook.access_token }))).toBe('RATE_LIMIT_EXCEEDED');
    await emulatorPost('/_emulator/fail-next', { error_type: 'API_ERROR', error_code: 'INTERNAL_SERVER_ERROR', status: 500 });
    expect(await failure(plaid.itemGet({ access_token: noHook.access_token }))).toBe('INTERNAL_SERVER_ERROR');
    const unknownEndpoint = await fetch(`${proxy.url}/transactions/teleport`, { method: 'POST', headers: { 'content-type': 'application/json', 'plaid-client-id': CLIENT_ID, 'plaid-secret': SECRET }, body: '{}' });
    expect(unknownEndpoint.status).toBe(404);
    await plaid.itemRemove({ access_token: noHook.access_token });
    expect(await failure(plaid.itemGet({ access_token: noHook.access_token }))).toBe('ITEM_NOT_FOUND');

    // Webhooks go out after the answers that caused them: every one must have arrived.
    await webhooksDelivered(emulator);

    // The verdict, per endpoint.
    const counts: Record<string, { ok: number; error: number; mismatched: number }> = {};
    const mismatches: string[] = [];
    for (const { path, status, body } of proxy.exchanges) {
      const found = responseMismatches(path, status, body);
      const row = (counts[path] ??= { ok: 0, error: 0, mismatched: 0 });
      row[status === 200 ? 'ok' : 'error'] += 1;
      if (found.length) {
        row.mismatched += 1;
        mismatches.push(`${path} ${status}: ${found.join('; ')}`);
      }
    }
    const hooks: Record<string, { sent: number; mismatched: number }> = {};
    for (const { payload } of emulator.deliveries) {
      const found = webhookMismatches(payload);
      const row = (hooks[`${payload.webhook_type}/${payload.webhook_code}`] ??= { sent: 0, mismatched: 0 });
      row.sent += 1;
      if (found.length) {
        row.mismatched += 1;
        mismatches.push(`webhook ${payload.webhook_type}/${payload.webhook_code}: ${found.join('; ')}`);
      }
    }
    const source = pinnedSpec['x-source'];
    console.log(`conformance against ${source.repository} ${source.path}@${source.commit.slice(0, 7)} (API ${source.version})`);
    console.table(counts);
    console.table(hooks);
    expect(mismatches).toEqual([]);
    for (const path of SPEC_ENDPOINTS) expect(counts[path]?.ok, `${path} answered 200 at least once`).toBeGreaterThan(0);
    expect(Object.values(counts).reduce((n, r) => n + r.error, 0)).toBeGreaterThanOrEqual(15);
    expect(Object.keys(hooks).sort()).toEqual(Object.keys(SPEC_WEBHOOKS).sort());

  });

  it('catches what the emulator used to get wrong: error: null on LOGIN_REPAIRED, an undeclared field, a wrong enum, a bad error body', () => {
    const base = { webhook_type: 'ITEM', webhook_code: 'LOGIN_REPAIRED', item_id: 'x', environment: 'sandbox' };
    expect(webhookMismatches(base)).toEqual([]);
    expect(webhookMismatches({ ...base, error: null }).join()).toMatch(/additional properties.*error/);
    expect(webhookMismatches({ ...base, webhook_code: 'MADE_UP' }).join()).toMatch(/no schema/);
    expect(responseMismatches('/item/remove', 200, { request_id: 'r' })).toEqual([]);
    expect(responseMismatches('/item/remove', 200, { request_id: 'r', removed: true }).join()).toMatch(/additional properties/);
    const sync = { added: [], modified: [], removed: [], next_cursor: '', has_more: false, accounts: [], request_id: 'r' };
    expect(responseMismatches('/transactions/sync', 200, { ...sync, transactions_update_status: 'NOT_READY' })).toEqual([]);
    expect(responseMismatches('/transactions/sync', 200, { ...sync, transactions_update_status: 'DONE' }).join()).toMatch(/allowed values/);
    expect(responseMismatches('/nowhere', 404, { error_type: 'INVALID_REQUEST', error_code: 'UNKNOWN_ENDPOINT' }).join()).toMatch(/error_message/);
  });
});
