// plaid-service's sync loop against the Plaid emulator through the real plaid SDK: Plaid's
// update statuses and its TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION, on memory and Redis stores.
import { randomUUID } from 'node:crypto';
import { Configuration, PlaidApi, type Products } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaidEmulator, type StartedPlaidEmulator } from '@repo/plaid-emulator';
import { createRedis, waitForRedis } from '@repo/runtime';
import { MemoryPlaidStore, RedisPlaidStore, type PlaidStore } from '@repo/stores';
import { syncTransactions } from '../src/transactions-sync.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NOT_READY_MS = 10_000;
const HISTORICAL_MS = 20_000;
const PAGE = 100;
const quiet = { warn: () => undefined, info: () => undefined };

describe.each(['memory', 'redis'] as const)('syncTransactions through the plaid SDK (%s store)', (kind) => {
  let clock = Date.parse('2026-06-15T12:00:00Z');
  let emulator: StartedPlaidEmulator;
  let plaid: PlaidApi;
  let store: PlaidStore;
  let drop = async () => undefined as void;

  beforeAll(async () => {
    emulator = await startPlaidEmulator({ productNotReadyMs: NOT_READY_MS, historicalUpdateMs: HISTORICAL_MS, now: () => clock });
    plaid = new PlaidApi(new Configuration({ basePath: emulator.url, baseOptions: { headers: { 'PLAID-CLIENT-ID': 'emulator-client-id', 'PLAID-SECRET': 'emulator-secret' } } }));
    if (kind === 'memory') {
      store = new MemoryPlaidStore();
    } else {
      const prefix = `test:${randomUUID()}:`;
      const redis = createRedis(REDIS_URL, prefix, quiet);
      const raw = createRedis(REDIS_URL, '', quiet);
      await Promise.all([waitForRedis(redis), waitForRedis(raw)]);
      store = new RedisPlaidStore(redis);
      drop = async () => {
        const left = await raw.keys(`${prefix}*`);
        if (left.length) await raw.del(...left);
        redis.disconnect();
        raw.disconnect();
      };
    }
  });
  afterAll(async () => {
    await emulator.close();
    await drop();
  });

  /** A linked sandbox item, stored as plaid-service stores it; and a page fetcher that records cursors. */
  async function linkedItem() {
    const { data: pub } = await plaid.sandboxPublicTokenCreate({ institution_id: 'ins_109508', initial_products: ['transactions' as Products], options: { transactions: { days_requested: 730 } } });
    const { data } = await plaid.itemPublicTokenExchange({ public_token: pub.public_token });
    await store.addItem({ item_id: data.item_id, user: '+14155552671', access_token_ciphertext: 'unused', institution_id: null, institution_name: null, created_at: new Date(clock).toISOString() }, []);
    const asked: string[] = [];
    const fetchPage = async (cursor: string) => {
      asked.push(cursor);
      return (await plaid.transactionsSync({ access_token: data.access_token, count: PAGE, ...(cursor ? { cursor } : {}) })).data;
    };
    const stored = async () => (await store.listTransactions([data.item_id], { offset: 0, count: 1000 })).transactions.map((t) => t.transaction_id).sort();
    const atPlaid = async () => {
      const res = await fetch(`${emulator.url}/_emulator/items/${data.item_id}/transactions`);
      return ((await res.json()) as { transactions: Array<{ transaction_id: string }> }).transactions.map((t) => t.transaction_id).sort();
    };
    return { itemId: data.item_id, asked, fetchPage, stored, atPlaid, record: async () => (await store.getItem(data.item_id))! };
  }

  it('is not ready during the first pull, ready at INITIAL_UPDATE_COMPLETE, and gets the rest at HISTORICAL_UPDATE_COMPLETE', async () => {
    const item = await linkedItem();
    expect((await syncTransactions(store, await item.record(), item.fetchPage)).status).toBe('not_ready');
    clock += NOT_READY_MS;
    const initial = await syncTransactions(store, await item.record(), item.fetchPage);
    expect(initial.status).toBe('ready');
    expect(initial.added).toBeGreaterThan(0);
    expect(initial.added).toBeLessThan(50);
    clock += HISTORICAL_MS;
    const historical = await syncTransactions(store, await item.record(), item.fetchPage);
    expect(historical.added).toBe(300 - initial.added);
    expect(await item.stored()).toEqual(await item.atPlaid());
  });

  it('restarts from the loop\'s start cursor on TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION and stores what Plaid has', async () => {
    const item = await linkedItem();
    clock += NOT_READY_MS + HISTORICAL_MS;
    const armed = await fetch(`${emulator.url}/_emulator/items/${item.itemId}/mutate-during-pagination`, { method: 'POST' });
    expect(armed.status).toBe(200);
    const outcome = await syncTransactions(store, await item.record(), item.fetchPage);
    expect(outcome.status).toBe('ready');
    // '' then the second page's cursor failed; then '' again and every page of the new loop.
    expect(item.asked[0]).toBe('');
    expect(item.asked[2]).toBe('');
    expect(item.asked.filter((c) => c === '')).toHaveLength(2);
    expect(outcome.pages).toBe(item.asked.length - 2);
    // Nothing of the failed loop leaked in: exactly Plaid's transactions after the mutation.
    expect(await item.stored()).toEqual(await item.atPlaid());
    expect((await item.record()).cursor).not.toBe('');
  });
});
