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

/**
 * Brings an item's stored transactions up to date: pages through `/transactions/sync` from the
 * stored cursor while `has_more`, applying each page with its cursor atomically. The store refuses
 * a page whose starting cursor is no longer current, so two syncs of one item (a webhook and a
 * read) cannot interleave; the later one simply stops.
 *
 * Not ready yet (`PRODUCT_NOT_READY`, `transactions_update_status: NOT_READY`, or an empty first
 * page without a status) is an outcome, not an error.
 */
export async function syncTransactions(store: PlaidStore, item: PlaidItemRecord, fetchPage: FetchSyncPage): Promise<SyncOutcome> {
  const outcome: SyncOutcome = { status: item.transactions_ready ? 'ready' : 'not_ready', added: 0, modified: 0, removed: 0, pages: 0 };
  let stored = item.cursor;
  let from = item.cursor;
  let restarts = 0;
  let ready = item.transactions_ready;
  for (;;) {
    let page: SyncResponse;
    try {
      page = await fetchPage(from);
    } catch (err) {
      const code = plaidErrorOf(err)?.error_code;
      if (code === 'PRODUCT_NOT_READY') return outcome;
      // Plaid's advice: restart the whole loop from the cursor it started with.
      if (code === 'TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION' && restarts < MAX_RESTARTS) {
        restarts += 1;
        from = item.cursor;
        continue;
      }
      throw err;
    }
    ready = ready || isReady(page);
    const applied = await store.applySyncPage(item.item_id, stored, {
      added: page.added.map((t) => toTransaction(t, item.item_id)),
      modified: page.modified.map((t) => toTransaction(t, item.item_id)),
      removed: page.removed.map((r) => r.transaction_id),
      nextCursor: page.next_cursor,
      transactionsReady: ready,
    });
    if (applied === 'missing') return { ...outcome, status: 'removed' };
    if (applied === 'stale') {
      // Someone else synced this item meanwhile: their view is as fresh as ours would be.
      const current = await store.getItem(item.item_id);
      return { ...outcome, status: !current ? 'removed' : current.transactions_ready ? 'ready' : 'not_ready' };
    }
    outcome.pages += 1;
    outcome.added += page.added.length;
    outcome.modified += page.modified.length;
    outcome.removed += page.removed.length;
    outcome.status = ready ? 'ready' : 'not_ready';
    stored = page.next_cursor;
    from = page.next_cursor;
    if (!page.has_more) {
      if (page.accounts && page.accounts.length > 0) await store.saveAccounts(item.item_id, page.accounts.map((a) => toAccount(a, item.item_id)));
      return outcome;
    }
    if (outcome.pages >= MAX_PAGES) throw new AppError('PLAID_ERROR', `Plaid kept answering has_more after ${MAX_PAGES} pages`);
  }

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
