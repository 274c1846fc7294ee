import { randomUUID } from 'node:crypto';
import { invalidAccessToken, invalidField, itemNotFound, PlaidError, type PlaidErrorObject } from './plaid-error.ts';
import { INSTITUTIONS, newTransaction, plaidId, postedTransaction, sandboxAccounts, sandboxTransactions, type SandboxAccount, type SandboxTransaction } from './sandbox-data.ts';

/** One change to an item's transactions, in the order Plaid learned of it. */
type Change = { kind: 'added' | 'modified'; transaction: SandboxTransaction } | { kind: 'removed'; transaction_id: string; account_id: string };

export type UpdateStatus = 'NOT_READY' | 'INITIAL_UPDATE_COMPLETE' | 'HISTORICAL_UPDATE_COMPLETE';

export interface Item {
  itemId: string;
  accessToken: string;
  institutionId: string;
  webhook: string | null;
  createdAt: number;
  accounts: SandboxAccount[];
  /** When Plaid started its first pull: at link when linked with transactions, else at the first sync. */
  pullStartedAt: number | undefined;
  /** Days of history the pull asks for, fixed when transactions were initialised. */
  daysRequested: number | undefined;
  /** The bank's whole history (two years), oldest first; the pulls reveal the requested part of it. */
  history: SandboxTransaction[];
  /** How far the pull has come; what a sync sees is `changes`. */
  loaded: UpdateStatus;
  /** Every change Plaid learned of since the pull started; a sync cursor is a position in it. */
  changes: Change[];
  /** Bumped by every change: a cursor handed out mid-pagination is only good for its generation. */
  generation: number;
  /** Whether `/transactions/sync` was called once: Plaid sends SYNC_UPDATES_AVAILABLE only then. */
  syncSubscribed: boolean;
  /** Test hook: the next mid-pagination sync call sees the data change under it. */
  mutateOnNextPage: boolean;
  /** The item's error as `/item/get` shows it (ITEM_LOGIN_REQUIRED after reset_login), or null. */
  error: PlaidErrorObject | null;
  /** When the user's consent ends (set by a PENDING_EXPIRATION or a PENDING_DISCONNECT for token expiry), or null. */
  consentExpiresAt: number | null;
  /** Accounts whose access the user revoked at the bank (USER_ACCOUNT_REVOKED): no longer listed. */
  revokedAccountIds: Set<string>;
  firedWebhooks: number;
}

export interface SyncPage {
  added: SandboxTransaction[];
  modified: SandboxTransaction[];
  removed: Array<{ transaction_id: string; account_id: string }>;
  next_cursor: string;
  has_more: boolean;
  transactions_update_status: UpdateStatus;
  accounts: SandboxAccount[];
}

export interface SyncRequest {
  cursor: string | undefined;
  count: number;
  daysRequested: number | undefined;
  accountId: string | undefined;
}

export interface ItemsOptions {
  now: () => number;
  /** How long after the pull starts `/transactions/sync` answers NOT_READY, as Plaid does during the first pull. */
  productNotReadyMs: number;
  /** How long after the initial update (the last 30 days) the historical one (the rest) completes. */
  historicalUpdateMs: number;
  transactionsPerItem: number;
}

const PUBLIC_TOKEN_TTL_MS = 30 * 60_000;
/** Plaid's default `days_requested`, and the days of the initial update. */
export const DEFAULT_DAYS_REQUESTED = 90;
const INITIAL_UPDATE_DAYS = 30;
const DAY_MS = 86_400_000;

interface PendingLink {
  institutionId: string;
  webhook: string | null;
  /** Undefined when the link did not initialise transactions. */
  daysRequested: number | undefined;
  expiresAt: number;
}

/** The emulator's Plaid-side state: public tokens waiting for exchange and the linked items. */
export class Items {
  private readonly publicTokens = new Map<string, PendingLink>();
  private readonly byAccessToken = new Map<string, Item>();
  private readonly removedTokens = new Set<string>();

  constructor(private readonly options: ItemsOptions) {}

  createPublicToken(institutionId: string, webhook: string | null, daysRequested: number | undefined): string {
    if (!(institutionId in INSTITUTIONS)) {
      throw new PlaidError('INVALID_INPUT', 'INVALID_INSTITUTION', `invalid institution_id provided: ${institutionId}`);
    }
    const token = `public-sandbox-${randomUUID()}`;
    this.publicTokens.set(token, { institutionId, webhook, daysRequested, expiresAt: this.options.now() + PUBLIC_TOKEN_TTL_MS });
    return token;
  }

  /** A public token works once, for 30 minutes. */
  exchange(publicToken: string): Item {
    const pending = this.publicTokens.get(publicToken);
    this.publicTokens.delete(publicToken);
    if (!pending || pending.expiresAt <= this.options.now()) {
      throw new PlaidError('INVALID_INPUT', 'INVALID_PUBLIC_TOKEN', 'provided public token is expired. Public tokens expire 30 minutes after creation at which point they can no longer be exchanged');
    }
    const itemId = plaidId('item', randomUUID());
    const accounts = sandboxAccounts(itemId);
    const now = this.options.now();
    const item: Item = {
      itemId,
      accessToken: `access-sandbox-${randomUUID()}`,
      institutionId: pending.institutionId,
      webhook: pending.webhook,
      createdAt: now,
      accounts,
      pullStartedAt: pending.daysRequested === undefined ? undefined : now,
      daysRequested: pending.daysRequested,
      history: sandboxTransactions(itemId, accounts, now, this.options.transactionsPerItem),
      loaded: 'NOT_READY',
      changes: [],
      generation: 0,
      syncSubscribed: false,
      mutateOnNextPage: false,
      error: null,
      consentExpiresAt: null,
      revokedAccountIds: new Set(),
      firedWebhooks: 0,
    };
    this.byAccessToken.set(item.accessToken, item);
    return item;
  }

  /** The item of an access token, as Plaid checks it before any item call. */
  get(accessToken: unknown, options: { allowItemError?: boolean } = {}): Item {
    if (typeof accessToken !== 'string' || !/^access-(sandbox|development|production)-[0-9a-f-]{36}$/.test(accessToken)) throw invalidAccessToken();
    const item = this.byAccessToken.get(accessToken);
    if (!item) {
      if (this.removedTokens.has(accessToken)) throw itemNotFound();
      throw invalidAccessToken();
    }
    if (item.error && !options.allowItemError) throw PlaidError.from(item.error);
    return item;
  }

  find(itemId: string): Item | undefined {
    return [...this.byAccessToken.values()].find((item) => item.itemId === itemId);
  }

  all(): Item[] {
    return [...this.byAccessToken.values()];
  }

  remove(item: Item): void {
    this.byAccessToken.delete(item.accessToken);
    this.removedTokens.add(item.accessToken);
  }

  /** When the pull reaches `status` (undefined while it has not started). */
  dueAt(item: Item, status: 'INITIAL_UPDATE_COMPLETE' | 'HISTORICAL_UPDATE_COMPLETE'): number | undefined {
    if (item.pullStartedAt === undefined) return undefined;
    return item.pullStartedAt + this.options.productNotReadyMs + (status === 'HISTORICAL_UPDATE_COMPLETE' ? this.options.historicalUpdateMs : 0);
  }

  /**
   * Lets the pull progress to the current time: the initial update brings the last 30 days, the
   * historical one the rest of the requested days. Returns the updates that completed now.
   */
  advance(item: Item): UpdateStatus[] {
    const now = this.options.now();
    const completed: UpdateStatus[] = [];
    const days = item.daysRequested ?? DEFAULT_DAYS_REQUESTED;
    const today = Math.floor(now / DAY_MS) * DAY_MS;
    const age = (t: SandboxTransaction) => (today - Date.parse(t.date)) / DAY_MS;
    const initialDue = this.dueAt(item, 'INITIAL_UPDATE_COMPLETE');
    if (item.loaded === 'NOT_READY' && initialDue !== undefined && now >= initialDue) {
      this.record(item, item.history.filter((t) => age(t) <= Math.min(INITIAL_UPDATE_DAYS, days)).map((transaction) => ({ kind: 'added', transaction })));
      item.loaded = 'INITIAL_UPDATE_COMPLETE';
      completed.push(item.loaded);
    }
    const historicalDue = this.dueAt(item, 'HISTORICAL_UPDATE_COMPLETE');
    if (item.loaded === 'INITIAL_UPDATE_COMPLETE' && historicalDue !== undefined && now >= historicalDue) {
      const older = item.history.filter((t) => age(t) > Math.min(INITIAL_UPDATE_DAYS, days) && age(t) <= days);
      // Newest first, as a bank's history arrives.
      this.record(item, older.reverse().map((transaction) => ({ kind: 'added', transaction })));
      item.loaded = 'HISTORICAL_UPDATE_COMPLETE';
      completed.push(item.loaded);
    }
    return completed;
  }

  /**
   * `/transactions/sync`: the changes after `cursor`, at most `count` of them (of one account if
   * asked). While the first pull runs, an empty page with status NOT_READY and an empty cursor.
   */
  sync(item: Item, request: SyncRequest): SyncPage {
    if (item.pullStartedAt === undefined) {
      // Transactions were not initialised at link: this call starts the pull, with its days.
      item.pullStartedAt = this.options.now();
      item.daysRequested = request.daysRequested ?? DEFAULT_DAYS_REQUESTED;
    }
    this.advance(item);
    item.syncSubscribed = true;
    const granted = grantedAccounts(item);
    const accounts = request.accountId === undefined ? granted : granted.filter((a) => a.account_id === request.accountId);
    if (request.accountId !== undefined && accounts.length === 0) throw new PlaidError('INVALID_INPUT', 'INVALID_ACCOUNT_ID', `account_id ${request.accountId} is not an account of this item`);
    if (item.loaded === 'NOT_READY') {
      return { added: [], modified: [], removed: [], next_cursor: '', has_more: false, transactions_update_status: 'NOT_READY', accounts };
    }
    if (request.cursor === 'now') {
      // The spec's special value, for moving an item from /transactions/get: no changes, and a
      // cursor after every change so far, so the next call brings only what comes later.
      return { added: [], modified: [], removed: [], next_cursor: encodeCursor(item, item.changes.length, undefined, request.accountId), has_more: false, transactions_update_status: item.loaded, accounts };
    }
    const cursor = request.cursor ? decodeCursor(item, request.cursor, request.accountId) : { position: 0, generation: undefined };
    if (cursor.generation !== undefined && item.mutateOnNextPage) {
      item.mutateOnNextPage = false;
      this.simulateUpdates(item);
    }
    if (cursor.generation !== undefined && cursor.generation !== item.generation) {
      throw new PlaidError('TRANSACTIONS_ERROR', 'TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION', 'Underlying transaction data changed since last page was fetched. Please restart pagination from last update.');
    }
    const ofAccount = (c: Change) => request.accountId === undefined || (c.kind === 'removed' ? c.account_id : c.transaction.account_id) === request.accountId;
    const page: Change[] = [];
    let to = cursor.position;
    while (to < item.changes.length && page.length < request.count) {
      const change = item.changes[to]!;
      if (ofAccount(change)) page.push(change);
      to += 1;
    }
    const hasMore = item.changes.slice(to).some(ofAccount);
    if (!hasMore) to = item.changes.length;
    return {
      added: page.flatMap((c) => (c.kind === 'added' ? [c.transaction] : [])),
      modified: page.flatMap((c) => (c.kind === 'modified' ? [c.transaction] : [])),
      removed: page.flatMap((c) => (c.kind === 'removed' ? [{ transaction_id: c.transaction_id, account_id: c.account_id }] : [])),
      next_cursor: encodeCursor(item, to, hasMore ? item.generation : undefined, request.accountId),
      has_more: hasMore,
      transactions_update_status: item.loaded,
      accounts,
    };
  }

  /**
   * What a sandbox SYNC_UPDATES_AVAILABLE brings: the pending transactions post (each pending id
   * removed, a posted one added with `pending_transaction_id`), one new pending purchase, one
   * changed (the newest settled one gets a new amount and name) and one removed (the oldest).
   */
  simulateUpdates(item: Item): { added: number; modified: number; removed: number } {
    const current = currentTransactions(item);
    const changes: Change[] = [];
    for (const pending of current.filter((t) => t.pending)) {
      changes.push({ kind: 'removed', transaction_id: pending.transaction_id, account_id: pending.account_id });
      changes.push({ kind: 'added', transaction: postedTransaction(item.itemId, pending) });
    }
    item.firedWebhooks += 1;
    changes.push({ kind: 'added', transaction: newTransaction(item.itemId, item.accounts, this.options.now(), item.firedWebhooks) });
    const settled = current.filter((t) => !t.pending);
    const toModify = settled.at(-1);
    if (toModify) {
      changes.push({ kind: 'modified', transaction: { ...toModify, amount: Math.round((toModify.amount + 1.25) * 100) / 100, name: `${toModify.name} (adjusted)` } });
    }
    const toRemove = settled.find((t) => t.transaction_id !== toModify?.transaction_id);
    if (toRemove) changes.push({ kind: 'removed', transaction_id: toRemove.transaction_id, account_id: toRemove.account_id });
    this.record(item, changes);
    const count = (kind: Change['kind']) => changes.filter((c) => c.kind === kind).length;
    return { added: count('added'), modified: count('modified'), removed: count('removed') };
  }

  private record(item: Item, changes: Change[]): void {
    item.changes.push(...changes);
    item.generation += 1;
  }
}

/** The item's accounts the user still grants access to. */
export function grantedAccounts(item: Item): SandboxAccount[] {
  return item.accounts.filter((a) => !item.revokedAccountIds.has(a.account_id));
}

/** The item's transactions as they stand after every change, oldest first. */
export function currentTransactions(item: Item): SandboxTransaction[] {
  const byId = new Map<string, SandboxTransaction>();
  for (const change of item.changes) {
    if (change.kind === 'removed') byId.delete(change.transaction_id);
    else byId.set(change.transaction.transaction_id, change.transaction);
  }
  return [...byId.values()].sort((a, b) => a.date.localeCompare(b.date));
}

// Opaque to clients, like Plaid's: which item (and account), how far into its changes, and, for a
// cursor handed out with has_more, the generation of the data it pages through.
function encodeCursor(item: Item, position: number, generation: number | undefined, accountId: string | undefined): string {
  return Buffer.from(JSON.stringify([item.itemId, position, generation ?? null, accountId ?? null]), 'utf8').toString('base64url');
}

function decodeCursor(item: Item, cursor: string, accountId: string | undefined): { position: number; generation: number | undefined } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (Array.isArray(parsed) && parsed.length === 4) {
    const [itemId, position, generation, cursorAccount] = parsed as unknown[];
    if (itemId === item.itemId && Number.isInteger(position) && (position as number) >= 0 && (position as number) <= item.changes.length && (generation === null || Number.isInteger(generation))) {
      if ((cursorAccount ?? undefined) !== accountId) throw invalidField('cursor belongs to another account_id stream; start again with no cursor');
      return { position: position as number, generation: generation === null ? undefined : (generation as number) };
    }
  }
  throw invalidField('cursor is not a valid value; use a next_cursor of this item');
}
