import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { PlaidAccount, PlaidTransaction } from '@repo/contracts';
import { MemoryPlaidStore, RedisPlaidStore, type PlaidStore, type SyncPage } from '../src/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `test:${randomUUID()}:`;
const redis = new Redis(REDIS_URL, { keyPrefix: prefix });
const raw = new Redis(REDIS_URL);
afterAll(async () => {
  const left = await raw.keys(`${prefix}*`);
  if (left.length) await raw.del(...left);
  redis.disconnect();
  raw.disconnect();
});

const phone = () => `+1415555${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`;

function account(itemId: string, id: string): PlaidAccount {
  return {
    account_id: id,
    item_id: itemId,
    name: `Account ${id}`,
    official_name: null,
    mask: '0000',
    type: 'depository',
    subtype: 'checking',
    balances: { available: 100, current: 110, limit: null, iso_currency_code: 'USD' },
  };
}

function txn(itemId: string, id: string, date: string, accountId = 'acc-1', amount = 10): PlaidTransaction {
  return {
    transaction_id: id,
    account_id: accountId,
    item_id: itemId,
    amount,
    iso_currency_code: 'USD',
    date,
    authorized_date: null,
    name: `Txn ${id}`,
    merchant_name: null,
    category: null,
    pending: false,
    payment_channel: 'online',
  };
}

const page = (p: Partial<SyncPage> & { nextCursor: string }): SyncPage => ({ added: [], modified: [], removed: [], transactionsReady: true, ...p });

async function newItem(store: PlaidStore, user = phone()) {
  const itemId = `item-${randomUUID()}`;
  await store.addItem(
    { item_id: itemId, user, access_token_ciphertext: 'v1.x.y.z', institution_id: 'ins_1', institution_name: 'Bank', created_at: '2024-01-01T00:00:00.000Z' },
    [account(itemId, 'acc-1')],
  );
  return { itemId, user };
}

function suite(name: string, store: PlaidStore) {
  describe(name, () => {
    it('keeps items per user and starts them with an empty cursor, not ready', async () => {
      const { itemId, user } = await newItem(store);
      const other = await newItem(store);
      const items = await store.listItems(user);
      expect(items.map((i) => i.item_id)).toEqual([itemId]);
      expect(items[0]).toMatchObject({ user, cursor: '', transactions_ready: false, access_token_ciphertext: 'v1.x.y.z', institution_name: 'Bank' });
      expect((await store.getItem(other.itemId))?.user).toBe(other.user);
      expect(await store.getItem('nope')).toBeUndefined();
      expect(await store.getAccounts(itemId)).toEqual([account(itemId, 'acc-1')]);
    });

    it('keeps an item\'s health until cleared, and never on a removed item', async () => {
      const { itemId, user } = await newItem(store);
      expect((await store.getItem(itemId))?.health).toBeNull();
      const health = { error_code: 'ITEM_LOGIN_REQUIRED', consent_expiration_time: null, updated_at: '2024-01-02T00:00:00.000Z' };
      expect(await store.setItemHealth(itemId, health)).toBe(true);
      expect((await store.getItem(itemId))?.health).toEqual(health);
      expect((await store.listItems(user))[0]?.health).toEqual(health);
      expect(await store.setItemHealth(itemId, null)).toBe(true);
      expect((await store.getItem(itemId))?.health).toBeNull();
      await store.removeItem(itemId);
      expect(await store.setItemHealth(itemId, health)).toBe(false);
      expect(await store.getItem(itemId)).toBeUndefined();
    });

    it('applies added, modified and removed, and saves the cursor with its page', async () => {
      const { itemId } = await newItem(store);
      expect(
        await store.applySyncPage(itemId, '', page({ nextCursor: 'c1', added: [txn(itemId, 't1', '2024-03-01'), txn(itemId, 't2', '2024-03-02')] })),
      ).toBe('applied');
      expect(
        await store.applySyncPage(itemId, 'c1', page({ nextCursor: 'c2', added: [txn(itemId, 't3', '2024-03-03')], modified: [txn(itemId, 't1', '2024-02-01', 'acc-1', 99)], removed: ['t2'] })),
      ).toBe('applied');
      const { transactions, total } = await store.listTransactions([itemId], { offset: 0, count: 10 });
      expect(total).toBe(2);
      expect(transactions.map((t) => [t.transaction_id, t.date, t.amount])).toEqual([
        ['t3', '2024-03-03', 10],
        ['t1', '2024-02-01', 99],
      ]);
      expect(await store.getItem(itemId)).toMatchObject({ cursor: 'c2', transactions_ready: true });
    });

    it('drops a page fetched from a cursor that is no longer current, and a page for a removed item', async () => {
      const { itemId } = await newItem(store);
      await store.applySyncPage(itemId, '', page({ nextCursor: 'c1', added: [txn(itemId, 't1', '2024-03-01')] }));
      expect(await store.applySyncPage(itemId, '', page({ nextCursor: 'other', added: [txn(itemId, 'dup', '2024-03-01')] }))).toBe('stale');
      expect((await store.getItem(itemId))?.cursor).toBe('c1');
      expect((await store.listTransactions([itemId], { offset: 0, count: 10 })).total).toBe(1);
      await store.removeItem(itemId);
      expect(await store.applySyncPage(itemId, 'c1', page({ nextCursor: 'c2', added: [txn(itemId, 't9', '2024-03-01')] }))).toBe('missing');
      expect((await store.listTransactions([itemId], { offset: 0, count: 10 })).total).toBe(0);
    });

    it('does not mark an item ready from a NOT_READY page, and never un-readies it', async () => {
      const { itemId } = await newItem(store);
      await store.applySyncPage(itemId, '', page({ nextCursor: '', transactionsReady: false }));
      expect((await store.getItem(itemId))?.transactions_ready).toBe(false);
      await store.applySyncPage(itemId, '', page({ nextCursor: 'c1' }));
      await store.applySyncPage(itemId, 'c1', page({ nextCursor: 'c2', transactionsReady: false }));
      expect((await store.getItem(itemId))?.transactions_ready).toBe(true);
    });

    it('pages newest first across items and filters by date range and account', async () => {
      const { itemId: a, user } = await newItem(store);
      const b = `item-${randomUUID()}`;
      await store.addItem({ item_id: b, user, access_token_ciphertext: 'x', institution_id: null, institution_name: null, created_at: '2024-01-01T00:00:00.000Z' }, []);
      await store.applySyncPage(a, '', page({ nextCursor: 'a1', added: [txn(a, 'a-1', '2024-01-10'), txn(a, 'a-2', '2024-01-20', 'acc-2'), txn(a, 'a-3', '2024-02-05')] }));
      await store.applySyncPage(b, '', page({ nextCursor: 'b1', added: [txn(b, 'b-1', '2024-01-15', 'acc-b'), txn(b, 'b-2', '2024-02-01', 'acc-b')] }));
      const ids = async (filter: Parameters<PlaidStore['listTransactions']>[1], items = [a, b]) => {
        const r = await store.listTransactions(items, filter);
        return [r.total, r.transactions.map((t) => t.transaction_id)];
      };
      expect(await ids({ offset: 0, count: 2 })).toEqual([5, ['a-3', 'b-2']]);
      expect(await ids({ offset: 2, count: 2 })).toEqual([5, ['a-2', 'b-1']]);
      expect(await ids({ offset: 4, count: 2 })).toEqual([5, ['a-1']]);
      expect(await ids({ offset: 0, count: 10, startDate: '2024-01-15', endDate: '2024-02-01' })).toEqual([3, ['b-2', 'a-2', 'b-1']]);
      expect(await ids({ offset: 0, count: 10, accountId: 'acc-1' })).toEqual([2, ['a-3', 'a-1']]);
      expect(await ids({ offset: 1, count: 1, accountId: 'acc-b' })).toEqual([2, ['b-1']]);
      expect(await ids({ offset: 0, count: 10 }, [b])).toEqual([2, ['b-2', 'b-1']]);
    });

    it('removes an item with everything stored for it', async () => {
      const { itemId, user } = await newItem(store);
      await store.applySyncPage(itemId, '', page({ nextCursor: 'c1', added: [txn(itemId, 't1', '2024-03-01')] }));
      expect(await store.removeItem(itemId)).toBe(true);
      expect(await store.removeItem(itemId)).toBe(false);
      expect(await store.getItem(itemId)).toBeUndefined();
      expect(await store.getAccounts(itemId)).toBeUndefined();
      expect(await store.listItems(user)).toEqual([]);
      expect((await store.listTransactions([itemId], { offset: 0, count: 10 })).total).toBe(0);
    });
  });
}

suite('RedisPlaidStore', new RedisPlaidStore(redis));
suite('MemoryPlaidStore', new MemoryPlaidStore());

describe('RedisPlaidStore keys', () => {
  it('leaves no key behind after an item is removed', async () => {
    const store = new RedisPlaidStore(redis);
    const { itemId, user } = await newItem(store);
    await store.applySyncPage(itemId, '', page({ nextCursor: 'c1', added: [txn(itemId, 't1', '2024-03-01')] }));
    const mine = async () => (await raw.keys(`${prefix}plaid:*`)).filter((k) => k.includes(itemId) || k.endsWith(user));
    expect((await mine()).length).toBe(5);
    await store.removeItem(itemId);
    expect(await mine()).toEqual([]);
  });

  it('answers STORE_UNAVAILABLE when Redis cannot be reached', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    await expect(new RedisPlaidStore(dead).listItems('+14155550000')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', statusCode: 503 });
    dead.disconnect();
  });
});
