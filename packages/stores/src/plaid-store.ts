import type { Redis } from 'ioredis';
import type { PlaidAccount, PlaidTransaction } from '@repo/contracts';
import { keys } from './keys.ts';
import { guardRedis, throwOnMultiError } from './redis-errors.ts';

/** A linked bank item. The access token is encrypted by plaid-service; the store never sees it in clear. */
export interface PlaidItemRecord {
  item_id: string;
  /** The owner's E.164 phone number. */
  user: string;
  access_token_ciphertext: string;
  institution_id: string | null;
  institution_name: string | null;
  created_at: string;
  /** `/transactions/sync` cursor of the last applied page; '' before the first. */
  cursor: string;
  /** true once Plaid has finished the item's first transactions pull. */
  transactions_ready: boolean;
  /** What Plaid's ITEM webhooks said of the item; null while it is healthy. */
  health: PlaidItemHealth | null;
}

/** An item's state as Plaid's ITEM webhooks report it. */
export interface PlaidItemHealth {
  /** Plaid's error_code (ITEM_LOGIN_REQUIRED, USER_PERMISSION_REVOKED, ...), or null when only a warning stands. */
  error_code: string | null;
  /** From PENDING_EXPIRATION: when the user's consent ends, or null. */
  consent_expiration_time: string | null;
  updated_at: string;
}

export type NewPlaidItem = Omit<PlaidItemRecord, 'cursor' | 'transactions_ready' | 'health'>;

/** One `/transactions/sync` page, reduced to what the store applies. */
export interface SyncPage {
  added: PlaidTransaction[];
  modified: PlaidTransaction[];
  /** transaction ids */
  removed: string[];
  nextCursor: string;
  transactionsReady: boolean;
}

/**
 * `applied`; `stale` when the item's cursor is no longer the one the page was fetched from (another
 * sync got there first: drop the page); `missing` when the item was removed meanwhile.
 */
export type ApplyOutcome = 'applied' | 'stale' | 'missing';

export interface TransactionFilter {
  /** inclusive, YYYY-MM-DD */
  startDate?: string;
  /** inclusive, YYYY-MM-DD */
  endDate?: string;
  accountId?: string;
  offset: number;
  count: number;
}

export interface TransactionsPage {
  /** newest first (date, then transaction id) */
  transactions: PlaidTransaction[];
  /** how many match the filter over all pages */
  total: number;
}

/**
 * Linked Plaid items per user, their cached accounts and their synced transactions. Items live
 * until removed (no TTL); removing one deletes everything stored for it.
 */
export interface PlaidStore {
  addItem(item: NewPlaidItem, accounts: PlaidAccount[]): Promise<void>;
  getItem(itemId: string): Promise<PlaidItemRecord | undefined>;
  listItems(user: string): Promise<PlaidItemRecord[]>;
  /** Deletes the item, its accounts and transactions; false if it did not exist. */
  removeItem(itemId: string): Promise<boolean>;
  saveAccounts(itemId: string, accounts: PlaidAccount[]): Promise<void>;
  getAccounts(itemId: string): Promise<PlaidAccount[] | undefined>;
  /**
   * Atomically applies one sync page (upserts added and modified, deletes removed) and stores its
   * cursor, if the item's cursor is still `expectedCursor`. A cursor is never saved without its page.
   */
  applySyncPage(itemId: string, expectedCursor: string, page: SyncPage): Promise<ApplyOutcome>;
  listTransactions(itemIds: string[], filter: TransactionFilter): Promise<TransactionsPage>;
  /** Stores (or clears, with null) the item's health; false if the item does not exist. */
  setItemHealth(itemId: string, health: PlaidItemHealth | null): Promise<boolean>;
  ping(): Promise<void>;
}

const DAY_MS = 86_400_000;

/** YYYY-MM-DD -> days since the epoch: the sorted-set score, so date ranges are a ZRANGE BYSCORE. */
export function dateScore(date: string): number {
  return Math.floor(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
}

function newestFirst(a: { score: number; id: string }, b: { score: number; id: string }): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

const APPLY_SYNC_PAGE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local cursor = redis.call('HGET', KEYS[1], 'cursor') or ''
if cursor ~= ARGV[1] then return 'stale' end
local n = tonumber(ARGV[4])
local i = 5
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  redis.call('ZADD', KEYS[3], ARGV[i + 1], ARGV[i])
  i = i + 3
end
while i <= #ARGV do
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('ZREM', KEYS[3], ARGV[i])
  i = i + 1
end
redis.call('HSET', KEYS[1], 'cursor', ARGV[2])
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'transactions_ready', '1') end
return 'applied'
`;

type ItemMeta = Omit<PlaidItemRecord, 'cursor' | 'transactions_ready' | 'item_id' | 'health'>;

// Only on an item that still exists: a webhook racing a removal must not bring back a stub.
const SET_ITEM_HEALTH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'health') else redis.call('HSET', KEYS[1], 'health', ARGV[1]) end
return 1
`;

export class RedisPlaidStore implements PlaidStore {
  constructor(private readonly redis: Redis) {}

  addItem(item: NewPlaidItem, accounts: PlaidAccount[]): Promise<void> {
    const { item_id, ...meta } = item;
    return guardRedis(async () => {
      await this.redis
        .multi()
        .hset(keys.plaidItem(item_id), { meta: JSON.stringify(meta), cursor: '', transactions_ready: '0' })
        .set(keys.plaidItemAccounts(item_id), JSON.stringify(accounts))
        .sadd(keys.plaidUserItems(item.user), item_id)
        .exec()
        .then(throwOnMultiError);
    });
  }

  setItemHealth(itemId: string, health: PlaidItemHealth | null): Promise<boolean> {
    return guardRedis(async () => (await this.redis.eval(SET_ITEM_HEALTH, 1, keys.plaidItem(itemId), health ? JSON.stringify(health) : '')) === 1);
  }

  getItem(itemId: string): Promise<PlaidItemRecord | undefined> {
    return guardRedis(async () => toRecord(itemId, await this.redis.hgetall(keys.plaidItem(itemId))));
  }

  listItems(user: string): Promise<PlaidItemRecord[]> {
    return guardRedis(async () => {
      const ids = (await this.redis.smembers(keys.plaidUserItems(user))).sort();
      const records = await Promise.all(ids.map(async (id) => toRecord(id, await this.redis.hgetall(keys.plaidItem(id)))));
      return records.filter((r): r is PlaidItemRecord => r !== undefined && r.user === user);
    });
  }

  removeItem(itemId: string): Promise<boolean> {
    return guardRedis(async () => {
      const meta = await this.redis.hget(keys.plaidItem(itemId), 'meta');
      if (!meta) return false;
      const { user } = JSON.parse(meta) as ItemMeta;
      const results = await this.redis
        .multi()
        .del(keys.plaidItem(itemId), keys.plaidItemAccounts(itemId), keys.plaidItemTransactions(itemId), keys.plaidItemTransactionDates(itemId))
        .srem(keys.plaidUserItems(user), itemId)
        .exec();
      throwOnMultiError(results);
      // Two concurrent removals: only the one that deleted the keys reports it.
      return (results?.[0]?.[1] as number) > 0;
    });
  }

  saveAccounts(itemId: string, accounts: PlaidAccount[]): Promise<void> {
    return guardRedis(async () => {
      // Only for a live item: a late refresh must not recreate keys of a removed one.
      if ((await this.redis.exists(keys.plaidItem(itemId))) === 0) return;
      await this.redis.set(keys.plaidItemAccounts(itemId), JSON.stringify(accounts));
    });
  }

  getAccounts(itemId: string): Promise<PlaidAccount[] | undefined> {
    return guardRedis(async () => {
      const raw = await this.redis.get(keys.plaidItemAccounts(itemId));
      return raw ? (JSON.parse(raw) as PlaidAccount[]) : undefined;
    });
  }

  applySyncPage(itemId: string, expectedCursor: string, page: SyncPage): Promise<ApplyOutcome> {
    const upserts = [...page.added, ...page.modified];
    const args: Array<string | number> = [expectedCursor, page.nextCursor, page.transactionsReady ? '1' : '0', upserts.length];
    for (const t of upserts) args.push(t.transaction_id, dateScore(t.date), JSON.stringify(t));
    args.push(...page.removed);
    return guardRedis(async () => {
      const outcome = await this.redis.eval(
        APPLY_SYNC_PAGE_SCRIPT,
        3,
        keys.plaidItem(itemId),
        keys.plaidItemTransactions(itemId),
        keys.plaidItemTransactionDates(itemId),
        ...args,
      );
      return outcome as ApplyOutcome;
    });
  }

  listTransactions(itemIds: string[], filter: TransactionFilter): Promise<TransactionsPage> {
    const min = filter.startDate ? dateScore(filter.startDate) : '-inf';
    const max = filter.endDate ? dateScore(filter.endDate) : '+inf';
    return guardRedis(async () => {
      const entries: Array<{ itemId: string; id: string; score: number }> = [];
      for (const itemId of itemIds) {
        const flat = await this.redis.zrange(keys.plaidItemTransactionDates(itemId), min, max, 'BYSCORE', 'WITHSCORES');
        for (let i = 0; i < flat.length; i += 2) entries.push({ itemId, id: flat[i]!, score: Number(flat[i + 1]) });
      }
      entries.sort(newestFirst);
      if (!filter.accountId) {
        const slice = entries.slice(filter.offset, filter.offset + filter.count);
        return { transactions: await this.load(slice), total: entries.length };
      }
      // The account is inside the JSON: load the range, then filter.
      const matching = (await this.load(entries)).filter((t) => t.account_id === filter.accountId);
      return { transactions: matching.slice(filter.offset, filter.offset + filter.count), total: matching.length };
    });
  }

  ping(): Promise<void> {
    return guardRedis(async () => {
      await this.redis.ping();
    });
  }

  /** Loads transactions in the given order, one HMGET per item. */
  private async load(entries: Array<{ itemId: string; id: string }>): Promise<PlaidTransaction[]> {
    const byItem = new Map<string, string[]>();
    for (const e of entries) byItem.set(e.itemId, [...(byItem.get(e.itemId) ?? []), e.id]);
    const found = new Map<string, PlaidTransaction>();
    for (const [itemId, ids] of byItem) {
      const values = await this.redis.hmget(keys.plaidItemTransactions(itemId), ...ids);
      values.forEach((v, i) => {
        if (v) found.set(`${itemId}\n${ids[i]}`, JSON.parse(v) as PlaidTransaction);
      });
    }
    return entries.flatMap((e) => found.get(`${e.itemId}\n${e.id}`) ?? []);
  }
}

function toRecord(itemId: string, hash: Record<string, string>): PlaidItemRecord | undefined {
  if (!hash.meta) return undefined;
  const meta = JSON.parse(hash.meta) as ItemMeta;
  const health = hash.health ? (JSON.parse(hash.health) as PlaidItemHealth) : null;
  return { item_id: itemId, ...meta, cursor: hash.cursor ?? '', transactions_ready: hash.transactions_ready === '1', health };
}

interface MemoryItem {
  record: PlaidItemRecord;
  accounts: PlaidAccount[];
  transactions: Map<string, PlaidTransaction>;
}

/** The embedded default's store. Values are copied in and out, as they would be through Redis. */
export class MemoryPlaidStore implements PlaidStore {
  private readonly items = new Map<string, MemoryItem>();
  private readonly byUser = new Map<string, Set<string>>();

  async addItem(item: NewPlaidItem, accounts: PlaidAccount[]): Promise<void> {
    this.items.set(item.item_id, {
      record: { ...item, cursor: '', transactions_ready: false, health: null },
      accounts: clone(accounts),
      transactions: new Map(),
    });
    const ids = this.byUser.get(item.user) ?? new Set<string>();
    ids.add(item.item_id);
    this.byUser.set(item.user, ids);
  }

  async getItem(itemId: string): Promise<PlaidItemRecord | undefined> {
    const item = this.items.get(itemId);
    return item ? clone(item.record) : undefined;
  }

  async setItemHealth(itemId: string, health: PlaidItemHealth | null): Promise<boolean> {
    const item = this.items.get(itemId);
    if (!item) return false;
    item.record.health = health ? clone(health) : null;
    return true;
  }

  async listItems(user: string): Promise<PlaidItemRecord[]> {
    return [...(this.byUser.get(user) ?? [])]
      .sort()
      .flatMap((id) => {
        const item = this.items.get(id);
        return item ? [{ ...item.record }] : [];
      });
  }

  async removeItem(itemId: string): Promise<boolean> {
    const item = this.items.get(itemId);
    if (!item) return false;
    this.items.delete(itemId);
    this.byUser.get(item.record.user)?.delete(itemId);
    return true;
  }

  async saveAccounts(itemId: string, accounts: PlaidAccount[]): Promise<void> {
    const item = this.items.get(itemId);
    if (item) item.accounts = clone(accounts);
  }

  async getAccounts(itemId: string): Promise<PlaidAccount[] | undefined> {
    const item = this.items.get(itemId);
    return item ? clone(item.accounts) : undefined;
  }

  async applySyncPage(itemId: string, expectedCursor: string, page: SyncPage): Promise<ApplyOutcome> {
    const item = this.items.get(itemId);
    if (!item) return 'missing';
    if (item.record.cursor !== expectedCursor) return 'stale';
    for (const t of [...page.added, ...page.modified]) item.transactions.set(t.transaction_id, clone(t));
    for (const id of page.removed) item.transactions.delete(id);
    item.record.cursor = page.nextCursor;
    if (page.transactionsReady) item.record.transactions_ready = true;
    return 'applied';
  }

  async listTransactions(itemIds: string[], filter: TransactionFilter): Promise<TransactionsPage> {
    const min = filter.startDate ? dateScore(filter.startDate) : -Infinity;
    const max = filter.endDate ? dateScore(filter.endDate) : Infinity;
    const matching = itemIds
      .flatMap((id) => [...(this.items.get(id)?.transactions.values() ?? [])])
      .map((t) => ({ t, id: t.transaction_id, score: dateScore(t.date) }))
      .filter(({ t, score }) => score >= min && score <= max && (!filter.accountId || t.account_id === filter.accountId))
      .sort(newestFirst);
    return { transactions: matching.slice(filter.offset, filter.offset + filter.count).map(({ t }) => clone(t)), total: matching.length };
  }

  async ping(): Promise<void> {}
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
