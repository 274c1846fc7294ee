import { randomUUID } from 'node:crypto';
import { invalidAccessToken, invalidField, itemLoginRequired, itemNotFound, PlaidError } from './plaid-error.ts';
import { INSTITUTIONS, newTransaction, plaidId, sandboxAccounts, sandboxTransactions, type SandboxAccount, type SandboxTransaction } from './sandbox-data.ts';

/** One change to an item's transactions, in the order Plaid learned of it. */
type Change = { kind: 'added' | 'modified'; transaction: SandboxTransaction } | { kind: 'removed'; transaction_id: string; account_id: string };

export interface Item {
  itemId: string;
  accessToken: string;
  institutionId: string;
  webhook: string | null;
  createdAt: number;
  accounts: SandboxAccount[];
  /** Every change since the item was linked; a sync cursor is a position in it. */
  changes: Change[];
  loginRequired: boolean;
  firedWebhooks: number;
}

export interface SyncPage {
  added: SandboxTransaction[];
  modified: SandboxTransaction[];
  removed: Array<{ transaction_id: string; account_id: string }>;
  next_cursor: string;
  has_more: boolean;
  transactions_update_status: 'NOT_READY' | 'INITIAL_UPDATE_COMPLETE' | 'HISTORICAL_UPDATE_COMPLETE';
  accounts: SandboxAccount[];
}

export interface ItemsOptions {
  now: () => number;
  /** How long after a link `/transactions/sync` answers NOT_READY, as Plaid does during the first pull. */
  productNotReadyMs: number;
  transactionsPerItem: number;
}

const PUBLIC_TOKEN_TTL_MS = 30 * 60_000;

/** The emulator's Plaid-side state: public tokens waiting for exchange and the linked items. */
export class Items {
  private readonly publicTokens = new Map<string, { institutionId: string; webhook: string | null; expiresAt: number }>();
  private readonly byAccessToken = new Map<string, Item>();
  private readonly removedTokens = new Set<string>();

  constructor(private readonly options: ItemsOptions) {}

  createPublicToken(institutionId: string, webhook: string | null): string {
    if (!(institutionId in INSTITUTIONS)) {
      throw new PlaidError('INVALID_INPUT', 'INVALID_INSTITUTION', `invalid institution_id provided: ${institutionId}`);
    }
    const token = `public-sandbox-${randomUUID()}`;
    this.publicTokens.set(token, { institutionId, webhook, expiresAt: this.options.now() + PUBLIC_TOKEN_TTL_MS });
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
    const history = sandboxTransactions(itemId, accounts, this.options.now(), this.options.transactionsPerItem);
    const item: Item = {
      itemId,
      accessToken: `access-sandbox-${randomUUID()}`,
      institutionId: pending.institutionId,
      webhook: pending.webhook,
      createdAt: this.options.now(),
      accounts,
      changes: history.map((transaction) => ({ kind: 'added' as const, transaction })),
      loginRequired: false,
      firedWebhooks: 0,
    };
    this.byAccessToken.set(item.accessToken, item);
    return item;
  }

  /** The item of an access token, as Plaid checks it before any item call. */
  get(accessToken: unknown, options: { allowLoginRequired?: boolean } = {}): Item {
    if (typeof accessToken !== 'string' || !/^access-(sandbox|development|production)-[0-9a-f-]{36}$/.test(accessToken)) throw invalidAccessToken();
    const item = this.byAccessToken.get(accessToken);
    if (!item) {
      if (this.removedTokens.has(accessToken)) throw itemNotFound();
      throw invalidAccessToken();
    }
    if (item.loginRequired && !options.allowLoginRequired) throw itemLoginRequired();
    return item;
  }

  find(itemId: string): Item | undefined {
    return [...this.byAccessToken.values()].find((item) => item.itemId === itemId);
  }

  remove(item: Item): void {
    this.byAccessToken.delete(item.accessToken);
    this.removedTokens.add(item.accessToken);
  }

  isReady(item: Item): boolean {
    return this.options.now() - item.createdAt >= this.options.productNotReadyMs;
  }

  /**
   * `/transactions/sync`: the changes after `cursor`, at most `count` of them. While the first pull
   * runs, an empty page with status NOT_READY and an empty cursor, as Plaid answers.
   */
  sync(item: Item, cursor: string | undefined, count: number): SyncPage {
    if (!this.isReady(item)) {
      return { added: [], modified: [], removed: [], next_cursor: '', has_more: false, transactions_update_status: 'NOT_READY', accounts: item.accounts };
    }
    const from = cursor ? decodeCursor(item, cursor) : 0;
    const page = item.changes.slice(from, from + count);
    const to = from + page.length;
    return {
      added: page.flatMap((c) => (c.kind === 'added' ? [c.transaction] : [])),
      modified: page.flatMap((c) => (c.kind === 'modified' ? [c.transaction] : [])),
      removed: page.flatMap((c) => (c.kind === 'removed' ? [{ transaction_id: c.transaction_id, account_id: c.account_id }] : [])),
      next_cursor: encodeCursor(item, to),
      has_more: to < item.changes.length,
      transactions_update_status: 'HISTORICAL_UPDATE_COMPLETE',
      accounts: item.accounts,
    };
  }

  /**
   * What a sandbox SYNC_UPDATES_AVAILABLE brings: one new transaction, one changed (the newest
   * settled one gets a new amount and name) and one removed (the oldest still there).
   */
  simulateUpdates(item: Item): { added: number; modified: number; removed: number } {
    const current = currentTransactions(item);
    item.firedWebhooks += 1;
    const added = newTransaction(item.itemId, item.accounts, this.options.now(), item.firedWebhooks);
    item.changes.push({ kind: 'added', transaction: added });
    const toModify = [...current].reverse().find((t) => !t.pending);
    if (toModify) {
      item.changes.push({ kind: 'modified', transaction: { ...toModify, amount: Math.round((toModify.amount + 1.25) * 100) / 100, name: `${toModify.name} (adjusted)` } });
    }
    const toRemove = current.find((t) => t.transaction_id !== toModify?.transaction_id);
    if (toRemove) item.changes.push({ kind: 'removed', transaction_id: toRemove.transaction_id, account_id: toRemove.account_id });
    return { added: 1, modified: toModify ? 1 : 0, removed: toRemove ? 1 : 0 };
  }
}

/** The item's transactions as they stand after every change, oldest first. */
export function currentTransactions(item: Item): SandboxTransaction[] {
  const byId = new Map<string, SandboxTransaction>();
  for (const change of item.changes) {
    if (change.kind === 'removed') byId.delete(change.transaction_id);
    else byId.set(change.transaction.transaction_id, change.transaction);
  }
  return [...byId.values()];
}

// Opaque to clients, like Plaid's: which item, and how far into its changes.
function encodeCursor(item: Item, position: number): string {
  return Buffer.from(`${item.itemId}:${position}`, 'utf8').toString('base64url');
}

function decodeCursor(item: Item, cursor: string): number {
  const [itemId, position] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  const value = Number(position);
  if (itemId !== item.itemId || !Number.isInteger(value) || value < 0 || value > item.changes.length) {
    throw invalidField('cursor is not a valid value; use a next_cursor of this item');
  }
  return value;
}
