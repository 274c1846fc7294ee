// The emulator as plaid-service sees it: every call through the real `plaid` SDK.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify } from 'jose';
import { Configuration, PlaidApi, type Products, type Transaction } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaidEmulator, type StartedPlaidEmulator } from '../src/index.ts';
import { eventually } from '@repo/test-support';

const CLIENT_ID = 'test-client';
const SECRET = 'test-secret';
const NOT_READY_MS = 60_000;
const HISTORICAL_MS = 30_000;
const DAY_MS = 86_400_000;

const sdk = (basePath: string, clientId = CLIENT_ID, secret = SECRET) =>
  new PlaidApi(new Configuration({ basePath, baseOptions: { headers: { 'PLAID-CLIENT-ID': clientId, 'PLAID-SECRET': secret } } }));

/** The Plaid error object of a rejected SDK call, with its HTTP status. */
async function plaidError(call: Promise<unknown>): Promise<{ status: number; error_type: string; error_code: string; [k: string]: unknown }> {
  try {
    await call;
  } catch (err) {
    const res = (err as { response?: { status: number; data: Record<string, unknown> } }).response;
    if (!res) throw err;
    return { status: res.status, ...(res.data as { error_type: string; error_code: string }) };
  }
  throw new Error('expected the call to fail');
}

interface Received {
  body: string;
  verification: string | undefined;
}

/**
 * A webhook receiver on loopback that keeps what it gets. `hold()` makes it keep the requests
 * waiting, unanswered, until `release()`.
 */
async function receiver() {
  const received: Received[] = [];
  let held: Array<() => void> | undefined;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      received.push({ body, verification: req.headers['plaid-verification'] as string | undefined });
      const answer = () => void res.writeHead(200).end('{}');
      if (held) held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    server,
    /** The parsed bodies received for one item, in order. */
    bodiesOf: (itemId: string) => received.map((r) => JSON.parse(r.body) as Record<string, unknown>).filter((b) => b.item_id === itemId),
    hold: () => void (held ??= []),
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const answer of waiting) answer();
    },
  };
}

describe('plaid emulator through the plaid SDK', () => {
  let clock = Date.parse('2026-06-15T12:00:00Z');
  let emulator: StartedPlaidEmulator;
  let plaid: PlaidApi;
  let hook: Awaited<ReturnType<typeof receiver>>;

  const link = async (webhook?: string, days?: number, products = ['transactions']) => {
    const { data: pub } = await plaid.sandboxPublicTokenCreate({
      institution_id: 'ins_109508',
      initial_products: products as Products[],
      options: { ...(webhook ? { webhook } : {}), ...(days ? { transactions: { days_requested: days } } : {}) },
    });
    const { data } = await plaid.itemPublicTokenExchange({ public_token: pub.public_token });
    return data;
  };
  /** Every change from `cursor` on, paged with `count`. */
  const syncAll = async (accessToken: string, cursor = '', count = 100, options: { account_id?: string; days_requested?: number } = {}) => {
    const added: string[] = [];
    const transactions: Transaction[] = [];
    const modified: Array<{ transaction_id: string; amount: number }> = [];
    const removed: string[] = [];
    const dates: string[] = [];
    let pages = 0;
    for (;;) {
      const { data } = await plaid.transactionsSync({ access_token: accessToken, count, ...(cursor ? { cursor } : {}), ...(Object.keys(options).length ? { options } : {}) });
      pages += 1;
      transactions.push(...data.added);
      added.push(...data.added.map((t) => t.transaction_id));
      dates.push(...data.added.map((t) => t.date));
      modified.push(...data.modified.map((t) => ({ transaction_id: t.transaction_id, amount: t.amount })));
      removed.push(...data.removed.map((r) => r.transaction_id));
      cursor = data.next_cursor;
      if (!data.has_more) return { added, transactions, modified, removed, dates, pages, cursor, status: data.transactions_update_status, accounts: data.accounts };
    }
  };

  beforeAll(async () => {
    emulator = await startPlaidEmulator({ clientId: CLIENT_ID, secret: SECRET, productNotReadyMs: NOT_READY_MS, historicalUpdateMs: HISTORICAL_MS, now: () => clock });
    plaid = sdk(emulator.url);
    hook = await receiver();
  });
  afterAll(async () => {
    await emulator.close();
    await new Promise((resolve) => hook.server.close(resolve));
  });

  it('checks client_id and secret like Plaid', async () => {
    const wrong = await plaidError(sdk(emulator.url, CLIENT_ID, 'nope').linkTokenCreate({ client_name: 'x', language: 'en', country_codes: [], user: { client_user_id: 'u' } }));
    expect(wrong).toMatchObject({ status: 400, error_type: 'INVALID_INPUT', error_code: 'INVALID_API_KEYS', request_id: expect.any(String), error_message: expect.any(String) });
    expect(wrong).toHaveProperty('display_message');
    const missing = await fetch(`${emulator.url}/accounts/get`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'MISSING_FIELDS' });
    // In the body, as older clients send them, they work too.
    const inBody = await fetch(`${emulator.url}/link/token/create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: CLIENT_ID, secret: SECRET, client_name: 'x', language: 'en', country_codes: ['US'], products: ['transactions'], user: { client_user_id: 'u' } }),
    });
    expect(inBody.status).toBe(200);
  });

  it('creates link tokens and refuses one without a user', async () => {
    const { data } = await plaid.linkTokenCreate({ client_name: 'App', language: 'en', country_codes: ['US' as never], products: ['transactions' as Products], user: { client_user_id: 'u1' } });
    expect(data.link_token).toMatch(/^link-sandbox-/);
    expect(Date.parse(data.expiration)).toBe(clock + 4 * 3_600_000);
    const noUser = await plaidError(plaid.linkTokenCreate({ client_name: 'App', language: 'en', country_codes: ['US' as never], products: ['transactions' as Products] } as never));
    expect(noUser).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'MISSING_FIELDS' });
  });

  it('validates requests against the spec like Plaid: missing, unknown and invalid fields', async () => {
    const item = await link();
    expect(await plaidError(plaid.accountsGet({} as never))).toMatchObject({ status: 400, error_type: 'INVALID_REQUEST', error_code: 'MISSING_FIELDS', error_message: expect.stringContaining('access_token') });
    const unknown = await plaidError(plaid.transactionsSync({ access_token: item.access_token, colour: 'blue', options: { shade: 1 } } as never));
    expect(unknown).toMatchObject({ status: 400, error_type: 'INVALID_REQUEST', error_code: 'UNKNOWN_FIELDS' });
    expect(unknown.error_message).toMatch(/colour.*options\.shade/);
    expect(await plaidError(plaid.transactionsSync({ access_token: item.access_token, options: { days_requested: 731 } }))).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'INVALID_FIELD' });
    const args = { client_name: 'App', language: 'en', user: { client_user_id: 'u1' } };
    const badProduct = await plaidError(plaid.linkTokenCreate({ ...args, country_codes: ['US' as never], products: ['transactionz' as Products] }));
    expect(badProduct).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'INVALID_FIELD', error_message: expect.stringContaining('products.0') });
    expect(await plaidError(plaid.linkTokenCreate({ ...args, country_codes: ['US' as never], products: ['balance' as Products] }))).toMatchObject({ error_type: 'INVALID_INPUT', error_code: 'INVALID_PRODUCT' });
    const badCountry = await plaidError(plaid.linkTokenCreate({ ...args, country_codes: ['XX' as never], products: ['transactions' as Products] }));
    expect(badCountry).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'INVALID_FIELD', error_message: expect.stringContaining('country_codes.0') });
    expect(await plaidError(plaid.linkTokenCreate({ ...args, country_codes: [], products: ['transactions' as Products] }))).toMatchObject({ error_code: 'INVALID_FIELD' });
  });

  it('answers an unknown endpoint with NOT_FOUND', async () => {
    const res = await fetch(`${emulator.url}/transactions/teleport`, { method: 'POST', headers: { 'content-type': 'application/json', 'plaid-client-id': CLIENT_ID, 'plaid-secret': SECRET }, body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'NOT_FOUND', request_id: expect.any(String) });
  });

  it('exchanges a public token once; unknown institutions are refused', async () => {
    const { data: pub } = await plaid.sandboxPublicTokenCreate({ institution_id: 'ins_109508', initial_products: ['transactions' as Products] });
    expect(pub.public_token).toMatch(/^public-sandbox-/);
    const { data } = await plaid.itemPublicTokenExchange({ public_token: pub.public_token });
    expect(data.access_token).toMatch(/^access-sandbox-/);
    expect(data.item_id).toMatch(/^[A-Za-z0-9]{37}$/);
    expect(await plaidError(plaid.itemPublicTokenExchange({ public_token: pub.public_token }))).toMatchObject({ error_code: 'INVALID_PUBLIC_TOKEN' });
    expect(await plaidError(plaid.sandboxPublicTokenCreate({ institution_id: 'ins_nope', initial_products: ['transactions' as Products] }))).toMatchObject({
      error_type: 'INVALID_INPUT',
      error_code: 'INVALID_INSTITUTION',
    });
  });

  it('gives every item the same sandbox data under its own ids', async () => {
    const [a, b] = [await link(), await link()];
    const [accountsA, accountsB] = [(await plaid.accountsGet({ access_token: a.access_token })).data, (await plaid.accountsGet({ access_token: b.access_token })).data];
    expect(accountsA.accounts.map((x) => [x.name, x.mask, x.type])).toEqual([
      ['Plaid Checking', '0000', 'depository'],
      ['Plaid Saving', '1111', 'depository'],
      ['Plaid Credit Card', '3333', 'credit'],
    ]);
    expect(accountsB.accounts.map((x) => x.name)).toEqual(accountsA.accounts.map((x) => x.name));
    expect(accountsA.accounts.map((x) => x.account_id)).not.toEqual(accountsB.accounts.map((x) => x.account_id));
    expect(accountsA.item).toMatchObject({ item_id: a.item_id, institution_id: 'ins_109508' });

    clock += NOT_READY_MS;
    const shape = async (token: string) => (await plaid.transactionsSync({ access_token: token, count: 50 })).data.added.map((t) => [t.date, t.amount, t.name]);
    expect(await shape(a.access_token)).toEqual(await shape(b.access_token));
  });

  it('answers NOT_READY during the first pull, then INITIAL_UPDATE_COMPLETE (30 days), then HISTORICAL_UPDATE_COMPLETE (the rest)', async () => {
    const item = await link(undefined, 730);
    const early = await plaid.transactionsSync({ access_token: item.access_token });
    expect(early.data).toMatchObject({ added: [], modified: [], removed: [], has_more: false, next_cursor: '', transactions_update_status: 'NOT_READY' });

    clock += NOT_READY_MS;
    const initial = await syncAll(item.access_token, '', 120);
    expect(initial.status).toBe('INITIAL_UPDATE_COMPLETE');
    expect(initial.added.length).toBeGreaterThan(0);
    expect(Math.max(...initial.dates.map((d) => (clock - Date.parse(d)) / DAY_MS))).toBeLessThanOrEqual(31);

    clock += HISTORICAL_MS;
    const historical = await syncAll(item.access_token, initial.cursor, 120);
    expect(historical.status).toBe('HISTORICAL_UPDATE_COMPLETE');
    expect(historical.pages).toBe(3);
    const all = [...initial.added, ...historical.added];
    expect(all).toHaveLength(300);
    expect(new Set(all).size).toBe(300);
    const sorted = [...initial.dates, ...historical.dates].sort();
    const today = new Date(clock).toISOString().slice(0, 10);
    expect(sorted.at(-1)! <= today).toBe(true);
    expect((clock - Date.parse(sorted[0]!)) / DAY_MS).toBeGreaterThan(700);

    const again = await syncAll(item.access_token, historical.cursor);
    expect([again.added, again.modified, again.removed]).toEqual([[], [], []]);

    expect(await plaidError(plaid.transactionsSync({ access_token: item.access_token, count: 501 }))).toMatchObject({ error_code: 'INVALID_FIELD' });
    expect(await plaidError(plaid.transactionsSync({ access_token: item.access_token, cursor: 'garbage' }))).toMatchObject({ error_code: 'INVALID_FIELD' });
    expect(await plaidError(plaid.transactionsSync({ access_token: item.access_token, count: 0 }))).toMatchObject({ error_code: 'INVALID_FIELD' });
  });

  it('honours days_requested: 90 by default, the link\'s, or the first sync\'s when the link did not ask for transactions', async () => {
    const oldest = (dates: string[]) => Math.max(...dates.map((d) => (clock - Date.parse(d)) / DAY_MS));
    const byDefault = await link();
    const linked60 = await link(undefined, 60);
    const authOnly = await link(undefined, undefined, ['auth']);
    // The first sync of an item linked without transactions starts the pull with its days_requested.
    expect((await plaid.transactionsSync({ access_token: authOnly.access_token, options: { days_requested: 45 } })).data.transactions_update_status).toBe('NOT_READY');
    clock += NOT_READY_MS + HISTORICAL_MS;
    const [d90, d60, d45] = [await syncAll(byDefault.access_token), await syncAll(linked60.access_token), await syncAll(authOnly.access_token, '', 100, { days_requested: 500 })];
    expect(d90.status).toBe('HISTORICAL_UPDATE_COMPLETE');
    expect(oldest(d90.dates)).toBeLessThanOrEqual(91);
    expect(oldest(d90.dates)).toBeGreaterThan(60);
    expect(oldest(d60.dates)).toBeLessThanOrEqual(61);
    // Later days_requested values have no effect, as Plaid documents.
    expect(oldest(d45.dates)).toBeLessThanOrEqual(46);
    expect(d90.added.length).toBeGreaterThan(d60.added.length);
  });

  it('honours options.account_id: one account\'s stream, its own cursor; a foreign account is refused', async () => {
    const item = await link(undefined, 730);
    clock += NOT_READY_MS + HISTORICAL_MS;
    const all = await syncAll(item.access_token);
    const checking = all.accounts.find((a) => a.subtype === 'checking')!.account_id;
    const one = await syncAll(item.access_token, '', 40, { account_id: checking });
    expect(one.accounts.map((a) => a.account_id)).toEqual([checking]);
    expect(one.transactions.every((t) => t.account_id === checking)).toBe(true);
    expect(one.added.sort()).toEqual(all.transactions.filter((t) => t.account_id === checking).map((t) => t.transaction_id).sort());
    expect(await plaidError(plaid.transactionsSync({ access_token: item.access_token, cursor: one.cursor }))).toMatchObject({ error_code: 'INVALID_FIELD' });
    expect(await plaidError(plaid.transactionsSync({ access_token: item.access_token, options: { account_id: 'not-an-account' } }))).toMatchObject({
      error_type: 'INVALID_INPUT',
      error_code: 'INVALID_ACCOUNT_ID',
    });
  });

  it('takes cursor "now" as the spec allows: no history, only what changes after it', async () => {
    const item = await link(hook.url, 730);
    clock += NOT_READY_MS + HISTORICAL_MS;
    const { data: now } = await plaid.transactionsSync({ access_token: item.access_token, cursor: 'now' });
    expect(now).toMatchObject({ added: [], modified: [], removed: [], has_more: false, transactions_update_status: 'HISTORICAL_UPDATE_COMPLETE' });
    expect(now.next_cursor).not.toBe('');
    expect((await syncAll(item.access_token, now.next_cursor)).added).toEqual([]);
    await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'SYNC_UPDATES_AVAILABLE' as never });
    const after = await syncAll(item.access_token, now.next_cursor);
    // Only the update: the pending ones posted and one new, nothing of the 300 before.
    const pending = after.removed.length - 1;
    expect(after.added).toHaveLength(pending + 1);
    expect(after.modified).toHaveLength(1);
  });

  it('answers TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION when armed; a restart from the loop\'s start cursor works', async () => {
    const item = await link(undefined, 730);
    clock += NOT_READY_MS + HISTORICAL_MS;
    const first = await plaid.transactionsSync({ access_token: item.access_token, count: 100 });
    expect(first.data.has_more).toBe(true);
    const armed = await fetch(`${emulator.url}/_emulator/items/${item.item_id}/mutate-during-pagination`, { method: 'POST' });
    expect(armed.status).toBe(200);
    expect(await plaidError(plaid.transactionsSync({ access_token: item.access_token, count: 100, cursor: first.data.next_cursor }))).toMatchObject({
      status: 400,
      error_type: 'TRANSACTIONS_ERROR',
      error_code: 'TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION',
    });
    // Every cursor of that loop is spent; the start cursor ('' here) is not.
    expect((await plaidError(plaid.transactionsSync({ access_token: item.access_token, count: 100, cursor: first.data.next_cursor }))).error_code).toBe('TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION');
    const restarted = await syncAll(item.access_token);
    expect(restarted.status).toBe('HISTORICAL_UPDATE_COMPLETE');
    expect(restarted.added.length).toBeGreaterThan(300 - restarted.removed.length);
  });

  it('fires a signed SYNC_UPDATES_AVAILABLE webhook after adding, modifying and removing a transaction', async () => {
    const item = await link(hook.url, 730);
    clock += NOT_READY_MS + HISTORICAL_MS;
    const first = await syncAll(item.access_token);
    const pending = first.transactions.filter((t) => t.pending).map((t) => t.transaction_id);
    expect(hook.bodiesOf(item.item_id)).toEqual([]);

    const { data } = await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'SYNC_UPDATES_AVAILABLE' as never });
    expect(data.webhook_fired).toBe(true);
    const { body, verification } = await eventually('the fired webhook', () => hook.received.find((r) => r.body.includes(item.item_id)));
    expect(JSON.parse(body)).toMatchObject({ webhook_type: 'TRANSACTIONS', webhook_code: 'SYNC_UPDATES_AVAILABLE', item_id: item.item_id });

    // Verify it the way Plaid documents.
    const header = JSON.parse(Buffer.from(verification!.split('.')[0]!, 'base64url').toString()) as { alg: string; kid: string };
    expect(header.alg).toBe('ES256');
    const { data: keyData } = await plaid.webhookVerificationKeyGet({ key_id: header.kid });
    const key = await importJWK(keyData.key as never, 'ES256');
    const { payload } = await jwtVerify(verification!, key, { currentDate: new Date(clock) });
    expect(payload.request_body_sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(await plaidError(plaid.webhookVerificationKeyGet({ key_id: 'unknown' }))).toMatchObject({ error_code: 'INVALID_WEBHOOK_VERIFICATION_KEY_ID' });

    const delta = await syncAll(item.access_token, first.cursor);
    // Pending ones post: the pending id removed, a settled one added that points back at it.
    const posted = delta.transactions.filter((t) => t.pending_transaction_id);
    expect(posted.map((t) => t.pending_transaction_id).sort()).toEqual([...pending].sort());
    expect(posted.every((t) => !t.pending && !first.added.includes(t.transaction_id))).toBe(true);
    const fresh = delta.transactions.filter((t) => !t.pending_transaction_id);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.pending).toBe(true);
    expect(delta.modified).toHaveLength(1);
    expect(first.added).toContain(delta.modified[0]!.transaction_id);
    expect(delta.removed).toHaveLength(pending.length + 1);
    expect(delta.removed.filter((id) => !pending.includes(id)).every((id) => first.added.includes(id))).toBe(true);

    // The next update posts the purchase that was pending.
    await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'SYNC_UPDATES_AVAILABLE' as never });
    const next = await syncAll(item.access_token, delta.cursor);
    expect(next.removed).toContain(fresh[0]!.transaction_id);
    expect(next.transactions.find((t) => t.pending_transaction_id === fresh[0]!.transaction_id)).toMatchObject({ pending: false, amount: fresh[0]!.amount });

    const noHook = await link();
    expect(await plaidError(plaid.sandboxItemFireWebhook({ access_token: noHook.access_token, webhook_code: 'SYNC_UPDATES_AVAILABLE' as never }))).toMatchObject({
      status: 400,
      error_type: 'SANDBOX_ERROR',
      error_code: 'SANDBOX_WEBHOOK_INVALID',
    });
  });

  it('removes items and tells a removed item from a malformed token', async () => {
    const item = await link();
    await plaid.itemRemove({ access_token: item.access_token });
    expect(await plaidError(plaid.accountsGet({ access_token: item.access_token }))).toMatchObject({ error_type: 'ITEM_ERROR', error_code: 'ITEM_NOT_FOUND' });
    expect(await plaidError(plaid.accountsGet({ access_token: 'access-sandbox-nope' }))).toMatchObject({ error_type: 'INVALID_INPUT', error_code: 'INVALID_ACCESS_TOKEN' });
  });

  it('puts an item into ITEM_LOGIN_REQUIRED on reset_login: /item/get carries the error, ITEM/ERROR is sent, LOGIN_REPAIRED clears it', async () => {
    const item = await link(hook.url);
    await plaid.sandboxItemResetLogin({ access_token: item.access_token });
    expect(await plaidError(plaid.accountsGet({ access_token: item.access_token }))).toMatchObject({ error_type: 'ITEM_ERROR', error_code: 'ITEM_LOGIN_REQUIRED' });
    const broken = (await plaid.itemGet({ access_token: item.access_token })).data.item;
    expect(broken.error).toMatchObject({ error_type: 'ITEM_ERROR', error_code: 'ITEM_LOGIN_REQUIRED', status: 400, error_message: expect.any(String) });
    const [error] = await eventually('ITEM/ERROR', () => (hook.bodiesOf(item.item_id).length >= 1 ? hook.bodiesOf(item.item_id) : undefined));
    expect(hook.bodiesOf(item.item_id)).toEqual([
      expect.objectContaining({ webhook_type: 'ITEM', webhook_code: 'ERROR', item_id: item.item_id, error: expect.objectContaining({ error_code: 'ITEM_LOGIN_REQUIRED' }) }),
    ]);
    expect(error!.error).not.toHaveProperty('request_id');

    await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'LOGIN_REPAIRED' as never });
    expect((await plaid.itemGet({ access_token: item.access_token })).data.item.error).toBeNull();
    const repaired = await eventually('LOGIN_REPAIRED', () => hook.bodiesOf(item.item_id)[1]);
    expect(repaired).toEqual({ webhook_type: 'ITEM', webhook_code: 'LOGIN_REPAIRED', item_id: item.item_id, environment: 'sandbox' });
    expect((await plaid.accountsGet({ access_token: item.access_token })).status).toBe(200);
  });

  it('sends PENDING_EXPIRATION and USER_PERMISSION_REVOKED through its test hook, with their effect on the item', async () => {
    const item = await link(hook.url);
    const fire = (webhook_code: string) =>
      fetch(`${emulator.url}/_emulator/items/${item.item_id}/item-error`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ webhook_code }) });
    expect((await fire('PENDING_EXPIRATION')).status).toBe(200);
    const expiring = (await eventually('PENDING_EXPIRATION', () => hook.bodiesOf(item.item_id)[0])) as { consent_expiration_time: string };
    expect(Date.parse(expiring.consent_expiration_time)).toBe(clock + 7 * DAY_MS - (clock % 1000));
    expect((await plaid.itemGet({ access_token: item.access_token })).data.item.consent_expiration_time).toBe(expiring.consent_expiration_time);
    expect((await plaid.accountsGet({ access_token: item.access_token })).status).toBe(200);

    expect((await fire('USER_PERMISSION_REVOKED')).status).toBe(200);
    expect(await eventually('USER_PERMISSION_REVOKED', () => hook.bodiesOf(item.item_id)[1])).toMatchObject({ webhook_type: 'ITEM', webhook_code: 'USER_PERMISSION_REVOKED', error: { error_code: 'USER_PERMISSION_REVOKED' } });
    expect(await plaidError(plaid.transactionsSync({ access_token: item.access_token }))).toMatchObject({ error_type: 'ITEM_ERROR', error_code: 'USER_PERMISSION_REVOKED' });
    expect((await fire('NOPE')).status).toBe(400);
  });

  it('fires PENDING_DISCONNECT and USER_ACCOUNT_REVOKED, by fire_webhook and by the test hook, with their effect on the item', async () => {
    const item = await link(hook.url);
    const accounts = (await plaid.accountsGet({ access_token: item.access_token })).data.accounts.map((a) => a.account_id);
    await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'PENDING_DISCONNECT' as never });
    const disconnect = await eventually('PENDING_DISCONNECT', () => hook.bodiesOf(item.item_id)[0]);
    const inAWeek = new Date(clock + 7 * DAY_MS - (clock % 1000)).toISOString().replace('.000Z', 'Z');
    expect(disconnect).toEqual({ webhook_type: 'ITEM', webhook_code: 'PENDING_DISCONNECT', item_id: item.item_id, reason: 'INSTITUTION_TOKEN_EXPIRATION', disconnect_time: inAWeek, environment: 'sandbox' });
    // The US consent ends then; the item works until it does.
    expect((await plaid.itemGet({ access_token: item.access_token })).data.item).toMatchObject({ consent_expiration_time: inAWeek, error: null });

    await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'USER_ACCOUNT_REVOKED' as never });
    expect(await eventually('USER_ACCOUNT_REVOKED', () => hook.bodiesOf(item.item_id)[1])).toEqual({
      webhook_type: 'ITEM',
      webhook_code: 'USER_ACCOUNT_REVOKED',
      item_id: item.item_id,
      account_id: accounts[0],
      environment: 'sandbox',
    });
    // That account is no longer shared; the others are.
    expect((await plaid.accountsGet({ access_token: item.access_token })).data.accounts.map((a) => a.account_id)).toEqual(accounts.slice(1));

    const post = (body: object) => fetch(`${emulator.url}/_emulator/items/${item.item_id}/item-error`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ webhook_code: 'PENDING_DISCONNECT', reason: 'INSTITUTION_MIGRATION' })).status).toBe(200);
    expect((await post({ webhook_code: 'USER_ACCOUNT_REVOKED', account_id: accounts[2] })).status).toBe(200);
    expect((await post({ webhook_code: 'PENDING_DISCONNECT', reason: 'BORED' })).status).toBe(400);
    expect((await post({ webhook_code: 'USER_ACCOUNT_REVOKED', account_id: 'nope' })).status).toBe(400);
    const [migration, revoked] = await eventually('two more webhooks', () => (hook.bodiesOf(item.item_id).length >= 4 ? hook.bodiesOf(item.item_id).slice(2) : undefined));
    expect(migration).toMatchObject({ webhook_code: 'PENDING_DISCONNECT', reason: 'INSTITUTION_MIGRATION' });
    expect(revoked).toMatchObject({ webhook_code: 'USER_ACCOUNT_REVOKED', account_id: accounts[2] });
    expect((await plaid.accountsGet({ access_token: item.access_token })).data.accounts.map((a) => a.account_id)).toEqual([accounts[1]]);
  });

  it('answers fire_webhook codes the spec lists but a transactions item cannot fire with SANDBOX_PRODUCT_NOT_ENABLED', async () => {
    const item = await link(hook.url);
    for (const [webhook_code, product] of [
      ['PRODUCT_READY', 'assets'],
      ['ERROR', 'assets'],
      ['SMS_MICRODEPOSITS_VERIFICATION', 'auth'],
      ['RECURRING_TRANSACTIONS_UPDATE', 'recurring_transactions'],
    ]) {
      expect(await plaidError(plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: webhook_code as never })), webhook_code).toMatchObject({
        status: 400,
        error_type: 'SANDBOX_ERROR',
        error_code: 'SANDBOX_PRODUCT_NOT_ENABLED',
        error_message: `The ${product} product is not enabled on this item`,
      });
    }
    expect(await plaidError(plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'DEFAULT_UPDATE' as never, webhook_type: 'AUTH' as never }))).toMatchObject({ error_code: 'SANDBOX_PRODUCT_NOT_ENABLED' });
    expect((await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'DEFAULT_UPDATE' as never, webhook_type: 'TRANSACTIONS' as never })).data.webhook_fired).toBe(true);
    // Not in the spec's list at all: the request is invalid.
    expect(await plaidError(plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'MADE_UP' as never }))).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'INVALID_FIELD' });
    // None of the refused ones was sent.
    await eventually('DEFAULT_UPDATE', () => hook.bodiesOf(item.item_id)[0]);
    expect(hook.bodiesOf(item.item_id).map((b) => b.webhook_code)).toEqual(['DEFAULT_UPDATE']);
  });

  it('makes update-mode link tokens from an access token; a repair through one clears the item without any webhook', async () => {
    const item = await link(hook.url);
    const accounts = (await plaid.accountsGet({ access_token: item.access_token })).data.accounts.map((a) => a.account_id);
    await plaid.sandboxItemResetLogin({ access_token: item.access_token });
    await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'USER_ACCOUNT_REVOKED' as never });
    await eventually('two webhooks', () => (hook.bodiesOf(item.item_id).length >= 2 ? true : undefined));
    const args = { client_name: 'App', language: 'en', country_codes: ['US' as never], user: { client_user_id: 'u1' } };
    // No products in update mode: the access token says which item; an item in error is what it is for.
    const { data: updateMode } = await plaid.linkTokenCreate({ ...args, access_token: item.access_token });
    expect(updateMode.link_token).toMatch(/^link-sandbox-/);
    expect(await plaidError(plaid.linkTokenCreate({ ...args, access_token: 'access-sandbox-nope' }))).toMatchObject({ error_code: 'INVALID_ACCESS_TOKEN' });
    expect(await plaidError(plaid.linkTokenCreate(args))).toMatchObject({ error_code: 'MISSING_FIELDS', error_message: expect.stringContaining('products') });

    const repair = (body: object) => fetch(`${emulator.url}/_emulator/items/${item.item_id}/repair`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const { data: newBank } = await plaid.linkTokenCreate({ ...args, products: ['transactions' as Products] });
    expect((await repair({ link_token: newBank.link_token })).status).toBe(400);
    expect(await plaidError(plaid.accountsGet({ access_token: item.access_token }))).toMatchObject({ error_code: 'ITEM_LOGIN_REQUIRED' });
    const sent = hook.bodiesOf(item.item_id).length;
    expect((await repair({ link_token: updateMode.link_token })).status).toBe(200);
    expect((await plaid.itemGet({ access_token: item.access_token })).data.item.error).toBeNull();
    expect((await plaid.accountsGet({ access_token: item.access_token })).data.accounts.map((a) => a.account_id)).toEqual(accounts);
    // A link token does update mode once.
    expect((await repair({ link_token: updateMode.link_token })).status).toBe(400);
    // Plaid sends nothing for it (LOGIN_REPAIRED is for repairs outside the app): an unrelated webhook after it is the next one.
    await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'NEW_ACCOUNTS_AVAILABLE' as never });
    await eventually('NEW_ACCOUNTS_AVAILABLE', () => hook.bodiesOf(item.item_id)[sent]);
    expect(hook.bodiesOf(item.item_id).slice(sent).map((b) => b.webhook_code)).toEqual(['NEW_ACCOUNTS_AVAILABLE']);
  });

  it('answers fire_webhook, reset_login and the test hooks first and delivers their webhook after, as Plaid does', async () => {
    const item = await link(hook.url);
    const attemptsOf = () => emulator.deliveries.filter((d) => d.payload.item_id === item.item_id);
    const post = (path: string, body: object) => fetch(`${emulator.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // The receiver keeps every webhook waiting: a call that waited for its delivery would never answer.
    hook.hold();
    let ids: string[];
    try {
      expect((await plaid.sandboxItemFireWebhook({ access_token: item.access_token, webhook_code: 'NEW_ACCOUNTS_AVAILABLE' as never })).data.webhook_fired).toBe(true);
      expect((await plaid.sandboxItemResetLogin({ access_token: item.access_token })).data.reset_login).toBe(true);
      // Its effect is there at once; only the webhook comes later.
      expect((await plaid.itemGet({ access_token: item.access_token })).data.item.error).toMatchObject({ error_code: 'ITEM_LOGIN_REQUIRED' });
      const hooked = (await (await post(`/_emulator/items/${item.item_id}/item-error`, { webhook_code: 'PENDING_EXPIRATION' })).json()) as { webhook_id: string };
      const fired = (await (await post(`/_emulator/items/${item.item_id}/fire-webhook`, { webhook_code: 'LOGIN_REPAIRED' })).json()) as { webhook_id: string };
      ids = [hooked.webhook_id, fired.webhook_id];
      expect(ids).toEqual([expect.stringMatching(/^webhook-\d+$/), expect.stringMatching(/^webhook-\d+$/)]);
      expect(attemptsOf()).toEqual([]);
      await eventually('four webhooks at the receiver', () => (hook.bodiesOf(item.item_id).length >= 4 ? true : undefined));
      expect(attemptsOf()).toEqual([]);
    } finally {
      hook.release();
    }
    const delivered = await eventually('four delivered webhooks', () => (attemptsOf().length >= 4 ? attemptsOf() : undefined));
    // Released at once, they may be answered in any order: sorted by when they were sent.
    delivered.sort((a, b) => Number(a.id.split('-')[1]) - Number(b.id.split('-')[1]));
    expect(delivered.map((d) => [d.payload.webhook_code, d.status])).toEqual([
      ['NEW_ACCOUNTS_AVAILABLE', 200],
      ['ERROR', 200],
      ['PENDING_EXPIRATION', 200],
      ['LOGIN_REPAIRED', 200],
    ]);
    // The test hooks' answers name the webhook they queued.
    expect(ids.map((id) => delivered.find((d) => d.id === id)?.payload.webhook_code)).toEqual(['PENDING_EXPIRATION', 'LOGIN_REPAIRED']);
  });

  it('fails the next call as armed, then serves again', async () => {
    const armed = await fetch(`${emulator.url}/_emulator/fail-next`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ error_type: 'RATE_LIMIT_EXCEEDED', error_code: 'RATE_LIMIT_EXCEEDED', status: 429 }),
    });
    expect(armed.status).toBe(200);
    const args = { client_name: 'App', language: 'en', country_codes: ['US' as never], products: ['transactions' as Products], user: { client_user_id: 'u' } };
    expect(await plaidError(plaid.linkTokenCreate(args))).toMatchObject({ status: 429, error_code: 'RATE_LIMIT_EXCEEDED' });
    expect((await plaid.linkTokenCreate(args)).status).toBe(200);
  });
});

describe('plaid emulator webhooks on its own', () => {
  it('sends SYNC_UPDATES_AVAILABLE at the initial and the historical update once sync was called, retrying a failed delivery', async () => {
    const bodies: Array<Record<string, unknown>> = [];
    let answered = 0;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        answered += 1;
        // The first delivery fails: the emulator must try it again.
        if (answered === 1) return void res.writeHead(503).end();
        bodies.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const emulator = await startPlaidEmulator({ clientId: CLIENT_ID, secret: SECRET, productNotReadyMs: 150, historicalUpdateMs: 500, webhookRetryDelaysMs: [100] });
    try {
      const plaid = sdk(emulator.url);
      const { data: pub } = await plaid.sandboxPublicTokenCreate({ institution_id: 'ins_109508', initial_products: ['transactions' as Products], options: { webhook: url } });
      const { data: item } = await plaid.itemPublicTokenExchange({ public_token: pub.public_token });
      expect((await plaid.transactionsSync({ access_token: item.access_token })).data.transactions_update_status).toBe('NOT_READY');
      // No call from here on: the emulator acts on its own.
      await eventually('three delivery attempts', () => (emulator.deliveries.length >= 3 ? emulator.deliveries : undefined));
      const base = { webhook_type: 'TRANSACTIONS', webhook_code: 'SYNC_UPDATES_AVAILABLE', item_id: item.item_id, environment: 'sandbox' };
      expect(bodies).toEqual([
        { ...base, initial_update_complete: true, historical_update_complete: false },
        { ...base, initial_update_complete: true, historical_update_complete: true },
      ]);
      expect(emulator.deliveries.map((d) => [d.attempt, d.status])).toEqual([
        [1, 503],
        [2, 200],
        [1, 200],
      ]);
    } finally {
      await emulator.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
