import type { AccountBase, Transaction, TransactionsSyncResponse } from 'plaid';
import { AppError, type PlaidAccount, type PlaidTransaction } from '@repo/contracts';
import type { PlaidItemRecord, PlaidStore } from '@repo/stores';
import { plaidErrorOf } from './plaid-errors.ts';

/** One `/transactions/sync` page as we read it; Plaid's response type, loosened where emulators differ. */
export type SyncResponse = Pick<TransactionsSyncResponse, 'added' | 'modified' | 'removed' | 'next_cursor' | 'has_more'> &
  Partial<Pick<TransactionsSyncResponse, 'transactions_update_status' | 'accounts'>>;

/** Fetches the page after `cursor` ('' for the first); failures are Plaid SDK errors. */
export type FetchSyncPage = (cursor: string) => Promise<SyncResponse>;

export interface SyncOutcome {
  /** `ready` once Plaid has the item's first transactions; `removed` if the item went away meanwhile. */
  status: 'ready' | 'not_ready' | 'removed';
  added: number;
  modified: number;
  removed: number;
  pages: number;
}

const MAX_PAGES = 1_000;
const MAX_RESTARTS = 3;

/** The changes of one sync loop, merged page by page (a later page wins over an earlier one). */
class LoopChanges {
  readonly upserts = new Map<string, PlaidTransaction>();
  readonly removed = new Set<string>();
  added = 0;
  modified = 0;
  removedCount = 0;
  pages = 0;

  constructor(private readonly itemId: string) {}

  add(page: SyncResponse): void {
    for (const t of [...page.added, ...page.modified]) {
      this.upserts.set(t.transaction_id, toTransaction(t, this.itemId));
      this.removed.delete(t.transaction_id);
    }
    for (const r of page.removed) {
      this.upserts.delete(r.transaction_id);
      this.removed.add(r.transaction_id);
    }
    this.added += page.added.length;
    this.modified += page.modified.length;
    this.removedCount += page.removed.length;
    this.pages += 1;
  }
}

/**
 * Brings an item's stored transactions up to date, as Plaid documents it: pages through
 * `/transactions/sync` from the stored cursor while `has_more`, keeping the pages in memory, and
 * stores them with the final cursor in one atomic step once the loop is over. On
 * `TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION` the pages are dropped and the loop restarts from
 * its start cursor. The store refuses the result if the item's cursor is no longer the one the loop
 * started from, so two syncs of one item (a webhook and a read) cannot interleave; the later one
 * simply stops.
 *
 * Not ready yet (`PRODUCT_NOT_READY`, `transactions_update_status: NOT_READY`, or an empty first
 * page without a status) is an outcome, not an error.
 */
export async function syncTransactions(store: PlaidStore, item: PlaidItemRecord, fetchPage: FetchSyncPage): Promise<SyncOutcome> {
  const start = item.cursor;
  let changes = new LoopChanges(item.item_id);
  let from = start;
  let restarts = 0;
  let ready = item.transactions_ready;
  let last: SyncResponse;
  for (;;) {
    let page: SyncResponse;
    try {
      page = await fetchPage(from);
    } catch (err) {
      const code = plaidErrorOf(err)?.error_code;
      if (code === 'PRODUCT_NOT_READY') return { status: item.transactions_ready ? 'ready' : 'not_ready', added: 0, modified: 0, removed: 0, pages: 0 };
      // Plaid's advice: drop the loop's pages and restart from the cursor it started with.
      if (code === 'TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION' && restarts < MAX_RESTARTS) {
        restarts += 1;
        changes = new LoopChanges(item.item_id);
        from = start;
        ready = item.transactions_ready;
        continue;
      }
      throw err;
    }
    ready = ready || isReady(page);
    changes.add(page);
    from = page.next_cursor;
    if (!page.has_more) {
      last = page;
      break;
    }
    if (changes.pages >= MAX_PAGES) throw new AppError('PLAID_ERROR', `Plaid kept answering has_more after ${MAX_PAGES} pages`);
  }

  const applied = await store.applySyncPage(item.item_id, start, {
    added: [...changes.upserts.values()],
    modified: [],
    removed: [...changes.removed],
    nextCursor: last.next_cursor,
    transactionsReady: ready,
  });
  if (applied === 'missing') return { status: 'removed', added: 0, modified: 0, removed: 0, pages: 0 };
  if (applied === 'stale') {
    // Someone else synced this item meanwhile: their view is as fresh as ours would be.
    const current = await store.getItem(item.item_id);
    return { status: !current ? 'removed' : current.transactions_ready ? 'ready' : 'not_ready', added: 0, modified: 0, removed: 0, pages: 0 };
  }
  if (last.accounts && last.accounts.length > 0) await store.saveAccounts(item.item_id, last.accounts.map((a) => toAccount(a, item.item_id)));
  return { status: ready ? 'ready' : 'not_ready', added: changes.added, modified: changes.modified, removed: changes.removedCount, pages: changes.pages };

  function isReady(page: SyncResponse): boolean {
    const status = page.transactions_update_status;
    if (status === 'NOT_READY') return false;
    if (status === 'INITIAL_UPDATE_COMPLETE' || status === 'HISTORICAL_UPDATE_COMPLETE') return true;
    // No status (older API, some emulators): an empty first pull means Plaid is still fetching.
    return page.added.length + page.modified.length + page.removed.length > 0;
  }
}

export function toTransaction(t: Transaction, itemId: string): PlaidTransaction {
  return {
    transaction_id: t.transaction_id,
    account_id: t.account_id,
    item_id: itemId,
    amount: t.amount,
    iso_currency_code: t.iso_currency_code ?? null,
    date: t.date,
    authorized_date: t.authorized_date ?? null,
    name: t.name ?? t.merchant_name ?? '',
    merchant_name: t.merchant_name ?? null,
    category: t.personal_finance_category?.primary ?? t.category?.[0] ?? null,
    pending: t.pending ?? false,
    payment_channel: t.payment_channel ?? null,
  };
}

export function toAccount(a: AccountBase, itemId: string): PlaidAccount {
  return {
    account_id: a.account_id,
    item_id: itemId,
    name: a.name,
    official_name: a.official_name ?? null,
    mask: a.mask ?? null,
    type: String(a.type),
    subtype: a.subtype ?? null,
    balances: {
      available: a.balances?.available ?? null,
      current: a.balances?.current ?? null,
      limit: a.balances?.limit ?? null,
      iso_currency_code: a.balances?.iso_currency_code ?? null,
    },
  };
}
