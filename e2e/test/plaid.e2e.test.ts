import { afterAll, beforeAll, expect, it } from 'vitest';
import { call, login, type Reply } from './support/client.ts';
import { describeEachMode } from './support/modes.ts';
import { startSystem, type System } from './support/system.ts';

interface Transaction {
  transaction_id: string;
  account_id: string;
  item_id: string;
  amount: number;
  date: string;
  name: string;
  pending: boolean;
}

await describeEachMode('bank linking end to end', (mode) => {
  let system: System;
  let alice: string;
  let bob: string;
  let itemId: string;

  const plaid = (method: string, path: string, token: string, body?: unknown) => call(system, method, `/api/plaid${path}`, { token, ...(body === undefined ? {} : { body }) });

  /** Polls until Plaid's first pull of the item is done; returns the first ready answer. */
  async function whenReady(token: string, item: string): Promise<Reply> {
    for (let i = 0; i < 100; i += 1) {
      const res = await plaid('GET', `/transactions?item_id=${item}&count=1`, token);
      if (res.status === 200) return res;
      expect([res.status, res.body.code], JSON.stringify(res.body)).toEqual([409, 'PLAID_PRODUCT_NOT_READY']);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('transactions never became ready');
  }

  /** The first delivery attempt of a webhook the emulator queued, once the receiver answered it (generous bound: a busy machine). */
  async function deliveryOf(webhookId: string): Promise<{ status: number | null }> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { deliveries } = (await (await fetch(`${system.plaidUrl}/_emulator/webhooks`)).json()) as { deliveries: Array<{ id: string; status: number | null }> };
      const found = deliveries.find((d) => d.id === webhookId);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`webhook ${webhookId} was not delivered in 30 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function allTransactions(token: string, query = ''): Promise<{ transactions: Transaction[]; total: number; pages: number }> {
    const transactions: Transaction[] = [];
    let cursor: string | null = null;
    let total = 0;
    let pages = 0;
    do {
      const res: Reply = await plaid('GET', `/transactions?count=100${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      total = res.body.total;
      transactions.push(...res.body.transactions);
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor);
    return { transactions, total, pages };
  }

  beforeAll(async () => {
    system = await startSystem(mode);
    alice = (await login(system)).tokens.access_token;
    bob = (await login(system)).tokens.access_token;
  }, 120_000);
  afterAll(async () => {
    await system?.close();
  });

  it('links a bank with a sandbox public token; the access token never leaves the server', async () => {
    const linkToken = await plaid('POST', '/link-token', alice);
    expect(linkToken.status).toBe(200);
    expect(linkToken.body).toEqual({ link_token: expect.stringMatching(/^link-sandbox-/), expiration: expect.any(String) });

    const pub = await plaid('POST', '/sandbox/public-token', alice, { institution_id: 'ins_109508' });
    expect(pub.status).toBe(200);
    expect(pub.body).toEqual({ public_token: expect.stringMatching(/^public-sandbox-/) });

    const linked = await plaid('POST', '/exchange-public-token', alice, { public_token: pub.body.public_token });
    expect(linked.status, JSON.stringify(linked.body)).toBe(200);
    expect(linked.body).toMatchObject({ item_id: expect.any(String), institution_id: 'ins_109508', institution_name: 'First Platypus Bank', created_at: expect.any(String) });
    expect(linked.body.accounts.length).toBe(3);
    expect(JSON.stringify(linked.body)).not.toMatch(/access-sandbox|access_token/);
    itemId = linked.body.item_id;

    const again = await plaid('POST', '/exchange-public-token', alice, { public_token: pub.body.public_token });
    expect([again.status, again.body.code]).toEqual([400, 'PLAID_INVALID_PUBLIC_TOKEN']);
  });

  it('lists the accounts of the user\'s own items only', async () => {
    const mine = await plaid('GET', '/accounts', alice);
    expect(mine.status).toBe(200);
    expect(mine.body.accounts.map((a: { name: string }) => a.name).sort()).toEqual(['Plaid Checking', 'Plaid Credit Card', 'Plaid Saving']);
    for (const account of mine.body.accounts) {
      expect(account).toMatchObject({ item_id: itemId, account_id: expect.any(String), type: expect.any(String), balances: { current: expect.any(Number), iso_currency_code: 'USD' } });
    }
    expect((await plaid('GET', '/accounts', bob)).body).toEqual({ accounts: [], items_needing_attention: [] });
  });

  it('pages transactions newest first and filters them by date and account', async () => {
    await whenReady(alice, itemId);
    const { transactions, total, pages } = await allTransactions(alice);
    expect(total).toBe(300);
    expect(pages).toBe(3);
    expect(new Set(transactions.map((t) => t.transaction_id)).size).toBe(total);
    const dates = transactions.map((t) => t.date);
    expect(dates).toEqual([...dates].sort().reverse());
    // Two years of history.
    const spanDays = (Date.parse(dates[0]!) - Date.parse(dates.at(-1)!)) / 86_400_000;
    expect(spanDays).toBeGreaterThan(600);

    const byOffset = await plaid('GET', '/transactions?count=5&offset=50', alice);
    expect(byOffset.body.transactions.map((t: Transaction) => t.transaction_id)).toEqual(transactions.slice(50, 55).map((t) => t.transaction_id));

    const start = dates[200]!;
    const end = dates[100]!;
    const ranged = await allTransactions(alice, `&start_date=${start}&end_date=${end}`);
    expect(ranged.total).toBe(dates.filter((d) => d >= start && d <= end).length);
    expect(ranged.total).toBeGreaterThan(0);
    expect(ranged.transactions.every((t) => t.date >= start && t.date <= end)).toBe(true);

    const accountId = transactions[0]!.account_id;
    const byAccount = await allTransactions(alice, `&account_id=${accountId}`);
    expect(byAccount.total).toBe(transactions.filter((t) => t.account_id === accountId).length);
    expect(byAccount.transactions.every((t) => t.account_id === accountId)).toBe(true);

    for (const query of ['start_date=2024-13-01', 'end_date=2024-02-30', 'start_date=2025-02-01&end_date=2025-01-01', 'count=501', 'cursor=nonsense']) {
      const bad = await plaid('GET', `/transactions?${query}`, alice);
      expect([bad.status, bad.body.code], query).toEqual([400, 'VALIDATION_ERROR']);
    }
  });

  it('re-syncs on a signed SYNC_UPDATES_AVAILABLE webhook: a modified and a removed transaction show', async () => {
    const before = await allTransactions(alice, `&item_id=${itemId}`);
    const fired = await fetch(`${system.plaidUrl}/_emulator/items/${itemId}/fire-webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ webhook_code: 'SYNC_UPDATES_AVAILABLE' }),
    });
    expect(fired.status).toBe(200);
    // Like Plaid, the emulator answers first and delivers after: wait until the gateway answered the
    // delivery, which it does once plaid-service verified it and synced.
    const { webhook_id } = (await fired.json()) as { webhook_id: string };
    const delivery = await deliveryOf(webhook_id);
    expect(delivery.status).toBe(200);

    const after = await allTransactions(alice, `&item_id=${itemId}`);
    const beforeById = new Map(before.transactions.map((t) => [t.transaction_id, t]));
    const afterById = new Map(after.transactions.map((t) => [t.transaction_id, t]));
    const removed = before.transactions.filter((t) => !afterById.has(t.transaction_id));
    const added = after.transactions.filter((t) => !beforeById.has(t.transaction_id));
    const modified = after.transactions.filter((t) => beforeById.has(t.transaction_id) && JSON.stringify(beforeById.get(t.transaction_id)) !== JSON.stringify(t));
    // Plaid's update: the pending ones post (pending id removed, settled one added), one new, one modified, one removed.
    const pending = before.transactions.filter((t) => t.pending).length;
    expect([added.length, modified.length, removed.length]).toEqual([1 + pending, 1, 1 + pending]);
    expect(modified[0]!.amount).not.toBe(beforeById.get(modified[0]!.transaction_id)!.amount);
    expect(after.total).toBe(before.total);

    // The same body without Plaid's signature is refused.
    const forged = await fetch(`${system.url}/api/plaid/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ webhook_type: 'TRANSACTIONS', webhook_code: 'SYNC_UPDATES_AVAILABLE', item_id: itemId }),
    });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { code: string }).code).toBe('WEBHOOK_VERIFICATION_FAILED');
  });

  it('signup links and returns accounts and the first transactions in one call', async () => {
    const pub = await plaid('POST', '/sandbox/public-token', bob);
    const signup = await plaid('POST', '/signup', bob, { public_token: pub.body.public_token });
    expect(signup.status, JSON.stringify(signup.body)).toBe(200);
    expect(signup.body).toMatchObject({
      item: { item_id: expect.any(String), institution_id: 'ins_109508' },
      transactions_status: 'ready',
      total_transactions: 300,
      next_cursor: expect.any(String),
    });
    expect(signup.body.accounts).toHaveLength(3);
    expect(signup.body.transactions).toHaveLength(100);
    // Bob sees his item, and only his.
    const bobs = await allTransactions(bob);
    expect(bobs.total).toBe(300);
    expect(bobs.transactions.every((t) => t.item_id === signup.body.item.item_id)).toBe(true);
  });

  it('never shows or removes another user\'s item: 404 PLAID_ITEM_NOT_FOUND', async () => {
    for (const [method, path] of [
      ['GET', `/accounts?item_id=${itemId}`],
      ['GET', `/transactions?item_id=${itemId}`],
      ['DELETE', `/items/${itemId}`],
    ] as const) {
      const res = await plaid(method, path, bob);
      expect([res.status, res.body.code], path).toEqual([404, 'PLAID_ITEM_NOT_FOUND']);
    }
    expect((await plaid('GET', `/accounts?item_id=${itemId}`, alice)).status).toBe(200);
  });

  it('refuses a missing or revoked access token with 401', async () => {
    const missing = await call(system, 'GET', '/api/plaid/accounts');
    expect([missing.status, missing.body.code]).toEqual([401, 'TOKEN_MISSING']);
    const { tokens } = await login(system);
    expect((await call(system, 'DELETE', '/api/auth/logout', { token: tokens.access_token })).status).toBe(200);
    const revoked = await plaid('GET', '/accounts', tokens.access_token);
    expect([revoked.status, revoked.body.code]).toEqual([401, 'TOKEN_REVOKED']);
  });

  it('removes an item at Plaid and everything stored for it', async () => {
    const removed = await plaid('DELETE', `/items/${itemId}`, alice);
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ item_id: itemId, removed: true });
    expect((await plaid('GET', '/accounts', alice)).body).toEqual({ accounts: [], items_needing_attention: [] });
    expect((await plaid('GET', '/transactions', alice)).body).toMatchObject({ transactions: [], total: 0 });
    expect((await plaid('DELETE', `/items/${itemId}`, alice)).status).toBe(404);
    // Gone at Plaid too: the emulator no longer knows the item.
    const atPlaid = await fetch(`${system.plaidUrl}/_emulator/items/${itemId}/transactions`);
    expect(atPlaid.status).toBe(404);
  });

  it('answers 503 PLAID_UNAVAILABLE fast when Plaid cannot be reached', async () => {
    await system.stopPlaid();
    const started = Date.now();
    const res = await plaid('POST', '/link-token', alice);
    expect([res.status, res.body.code]).toEqual([503, 'PLAID_UNAVAILABLE']);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(Date.now() - started).toBeLessThan(3_000);
    // What is stored locally still reads.
    expect((await plaid('GET', '/transactions', bob)).status).toBe(200);
  });
});
