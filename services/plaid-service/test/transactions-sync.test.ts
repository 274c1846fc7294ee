import { describe, expect, it } from 'vitest';
import type { Transaction } from 'plaid';
import { MemoryPlaidStore, type PlaidItemRecord } from '@repo/stores';
import { syncTransactions, type SyncResponse } from '../src/transactions-sync.ts';

const ITEM = 'item-1';

function plaidTxn(id: string, date: string, amount = 12.5): Transaction {
  return {
    transaction_id: id,
    account_id: 'acc-1',
    amount,
    iso_currency_code: 'USD',
    date,
    name: `Shop ${id}`,
    pending: false,
    personal_finance_category: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_OTHER' },
    payment_channel: 'in store',
  } as unknown as Transaction;
}

function syncPage(p: Partial<SyncResponse> & { next_cursor: string }): SyncResponse {
  return { added: [], modified: [], removed: [], has_more: false, transactions_update_status: 'HISTORICAL_UPDATE_COMPLETE' as SyncResponse['transactions_update_status'], ...p };
}

/** A fake /transactions/sync: answers from a table keyed by cursor, and records the cursors asked for. */
function plaidWith(pages: Record<string, SyncResponse | Error>) {
  const asked: string[] = [];
  return {
    asked,
    fetch: async (cursor: string) => {
      asked.push(cursor);
      const page = pages[cursor];
      if (!page) throw new Error(`unexpected cursor "${cursor}"`);
      if (page instanceof Error) throw page;
      return page;
    },
  };
}

function plaidError(code: string, type = 'TRANSACTIONS_ERROR') {
  return Object.assign(new Error('Request failed'), { response: { status: 400, data: { error_type: type, error_code: code, error_message: code } } });
}

async function freshItem(store: MemoryPlaidStore): Promise<PlaidItemRecord> {
  await store.addItem({ item_id: ITEM, user: '+14155552671', access_token_ciphertext: 'x', institution_id: null, institution_name: null, created_at: '2024-01-01T00:00:00Z' }, []);
  return (await store.getItem(ITEM))!;
}

const ids = async (store: MemoryPlaidStore) =>
  (await store.listTransactions([ITEM], { offset: 0, count: 100 })).transactions.map((t) => `${t.transaction_id}@${t.date}:${t.amount}`);

describe('syncTransactions', () => {
  it('pages through has_more and stores the pages with the final cursor only when the loop is over', async () => {
    const store = new MemoryPlaidStore();
    const plaid = plaidWith({
      '': syncPage({ next_cursor: 'c1', has_more: true, added: [plaidTxn('t1', '2024-01-01'), plaidTxn('t2', '2024-01-02')] }),
      c1: syncPage({ next_cursor: 'c2', added: [plaidTxn('t3', '2024-01-03')] }),
    });
    const outcome = await syncTransactions(store, await freshItem(store), plaid.fetch);
    expect(outcome).toEqual({ status: 'ready', added: 3, modified: 0, removed: 0, pages: 2 });
    expect(plaid.asked).toEqual(['', 'c1']);
    expect(await ids(store)).toEqual(['t3@2024-01-03:12.5', 't2@2024-01-02:12.5', 't1@2024-01-01:12.5']);
    expect(await store.getItem(ITEM)).toMatchObject({ cursor: 'c2', transactions_ready: true });
  });

  it('stores nothing of a loop that fails halfway: the next sync starts again from the stored cursor', async () => {
    const store = new MemoryPlaidStore();
    const plaid = plaidWith({
      '': syncPage({ next_cursor: 'c1', has_more: true, added: [plaidTxn('t1', '2024-01-01')] }),
      c1: plaidError('INTERNAL_SERVER_ERROR', 'API_ERROR'),
    });
    await expect(syncTransactions(store, await freshItem(store), plaid.fetch)).rejects.toBeDefined();
    expect(await ids(store)).toEqual([]);
    expect((await store.getItem(ITEM))?.cursor).toBe('');
  });

  it('merges the pages of one loop: a transaction added then removed leaves nothing, the last modification wins', async () => {
    const store = new MemoryPlaidStore();
    const plaid = plaidWith({
      '': syncPage({ next_cursor: 'c1', has_more: true, added: [plaidTxn('pending-1', '2024-01-01'), plaidTxn('t2', '2024-01-02')] }),
      c1: syncPage({ next_cursor: 'c2', has_more: true, modified: [plaidTxn('t2', '2024-01-02', 40)], removed: [{ transaction_id: 'pending-1', account_id: 'acc-1' }] }),
      c2: syncPage({ next_cursor: 'c3', added: [plaidTxn('posted-1', '2024-01-03')] }),
    });
    const outcome = await syncTransactions(store, await freshItem(store), plaid.fetch);
    expect(outcome).toMatchObject({ added: 3, modified: 1, removed: 1, pages: 3 });
    expect(await ids(store)).toEqual(['posted-1@2024-01-03:12.5', 't2@2024-01-02:40']);
    expect((await store.getItem(ITEM))?.cursor).toBe('c3');
  });

  it('a later sync fetches only the delta and applies modified and removed', async () => {
    const store = new MemoryPlaidStore();
    const first = plaidWith({ '': syncPage({ next_cursor: 'c1', added: [plaidTxn('t1', '2024-01-01'), plaidTxn('t2', '2024-01-02')] }) });
    await syncTransactions(store, await freshItem(store), first.fetch);
    const second = plaidWith({
      c1: syncPage({ next_cursor: 'c2', modified: [plaidTxn('t1', '2024-01-05', 99)], removed: [{ transaction_id: 't2', account_id: 'acc-1' }] }),
    });
    const outcome = await syncTransactions(store, (await store.getItem(ITEM))!, second.fetch);
    expect(second.asked).toEqual(['c1']);
    expect(outcome).toMatchObject({ status: 'ready', modified: 1, removed: 1 });
    expect(await ids(store)).toEqual(['t1@2024-01-05:99']);
  });

  it('maps Plaid transactions to our shape', async () => {
    const store = new MemoryPlaidStore();
    await syncTransactions(store, await freshItem(store), plaidWith({ '': syncPage({ next_cursor: 'c1', added: [plaidTxn('t1', '2024-01-01')] }) }).fetch);
    const [t] = (await store.listTransactions([ITEM], { offset: 0, count: 1 })).transactions;
    expect(t).toEqual({
      transaction_id: 't1',
      account_id: 'acc-1',
      item_id: ITEM,
      amount: 12.5,
      iso_currency_code: 'USD',
      date: '2024-01-01',
      authorized_date: null,
      name: 'Shop t1',
      merchant_name: null,
      category: 'FOOD_AND_DRINK',
      pending: false,
      payment_channel: 'in store',
    });
  });

  it('treats NOT_READY, PRODUCT_NOT_READY and an empty first page without a status as not ready', async () => {
    for (const answer of [
      syncPage({ next_cursor: '', transactions_update_status: 'NOT_READY' as SyncResponse['transactions_update_status'] }),
      plaidError('PRODUCT_NOT_READY', 'ITEM_ERROR'),
      { added: [], modified: [], removed: [], has_more: false, next_cursor: 'c0' } satisfies SyncResponse,
    ]) {
      const store = new MemoryPlaidStore();
      const outcome = await syncTransactions(store, await freshItem(store), plaidWith({ '': answer }).fetch);
      expect(outcome.status).toBe('not_ready');
      expect((await store.getItem(ITEM))?.transactions_ready).toBe(false);
    }
  });

  it('an empty first page that says INITIAL_UPDATE_COMPLETE is ready (an account without transactions)', async () => {
    const store = new MemoryPlaidStore();
    const page = syncPage({ next_cursor: 'c1', transactions_update_status: 'INITIAL_UPDATE_COMPLETE' as SyncResponse['transactions_update_status'] });
    expect((await syncTransactions(store, await freshItem(store), plaidWith({ '': page }).fetch)).status).toBe('ready');
  });

  it('restarts from the first cursor on TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION', async () => {
    const store = new MemoryPlaidStore();
    let failed = false;
    const pages: Record<string, SyncResponse> = {
      '': syncPage({ next_cursor: 'c1', has_more: true, added: [plaidTxn('t1', '2024-01-01')] }),
      c1: syncPage({ next_cursor: 'c2', added: [plaidTxn('t2', '2024-01-02')] }),
    };
    const asked: string[] = [];
    const fetch = async (cursor: string) => {
      asked.push(cursor);
      if (cursor === 'c1' && !failed) {
        failed = true;
        throw plaidError('TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION');
      }
      return pages[cursor]!;
    };
    const outcome = await syncTransactions(store, await freshItem(store), fetch);
    expect(asked).toEqual(['', 'c1', '', 'c1']);
    expect(outcome.status).toBe('ready');
    expect(await ids(store)).toEqual(['t2@2024-01-02:12.5', 't1@2024-01-01:12.5']);
    expect((await store.getItem(ITEM))?.cursor).toBe('c2');
  });

  it('stops without applying when another sync moved the cursor first', async () => {
    const store = new MemoryPlaidStore();
    const item = await freshItem(store);
    // The other sync wins the race.
    await store.applySyncPage(ITEM, '', { added: [], modified: [], removed: [], nextCursor: 'theirs', transactionsReady: true });
    const outcome = await syncTransactions(store, item, plaidWith({ '': syncPage({ next_cursor: 'mine', added: [plaidTxn('t1', '2024-01-01')] }) }).fetch);
    expect(outcome).toMatchObject({ status: 'ready', pages: 0 });
    expect(await ids(store)).toEqual([]);
    expect((await store.getItem(ITEM))?.cursor).toBe('theirs');
  });

  it('reports a removed item and passes other Plaid errors on', async () => {
    const store = new MemoryPlaidStore();
    const item = await freshItem(store);
    await store.removeItem(ITEM);
    expect((await syncTransactions(store, item, plaidWith({ '': syncPage({ next_cursor: 'c1' }) }).fetch)).status).toBe('removed');
    const other = new MemoryPlaidStore();
    await expect(syncTransactions(other, await freshItem(other), plaidWith({ '': plaidError('ITEM_LOGIN_REQUIRED', 'ITEM_ERROR') }).fetch)).rejects.toMatchObject({
      response: { data: { error_code: 'ITEM_LOGIN_REQUIRED' } },
    });
  });
});
