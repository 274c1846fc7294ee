import { createHash } from 'node:crypto';

/** The sandbox institutions the emulator knows, as in Plaid's sandbox. */
export const INSTITUTIONS: Record<string, string> = {
  ins_109508: 'First Platypus Bank',
  ins_109509: 'First Gingham Credit Union',
  ins_109510: 'Tattersall Federal Credit Union',
  ins_109511: 'Tartan Bank',
  ins_109512: 'Houndstooth Bank',
};

export interface SandboxAccount {
  account_id: string;
  balances: { available: number | null; current: number | null; limit: number | null; iso_currency_code: string; unofficial_currency_code: null };
  mask: string;
  name: string;
  official_name: string;
  type: 'depository' | 'credit';
  subtype: 'checking' | 'savings' | 'credit card';
  persistent_account_id: string;
}

/** A Plaid Transaction object (the fields the API returns; deprecated ones kept as Plaid still sends them). */
export interface SandboxTransaction {
  transaction_id: string;
  account_id: string;
  account_owner: null;
  amount: number;
  iso_currency_code: string;
  unofficial_currency_code: null;
  date: string;
  authorized_date: string | null;
  datetime: null;
  authorized_datetime: null;
  name: string;
  merchant_name: string | null;
  merchant_entity_id: null;
  logo_url: null;
  website: string | null;
  payment_channel: 'online' | 'in store' | 'other';
  pending: boolean;
  pending_transaction_id: string | null;
  category: string[];
  category_id: string;
  personal_finance_category: { primary: string; detailed: string; confidence_level: 'VERY_HIGH' | 'HIGH' };
  location: Record<string, null>;
  payment_meta: Record<string, null>;
  counterparties: unknown[];
  check_number: null;
  transaction_code: null;
  transaction_type: 'digital' | 'place' | 'special';
}

interface Merchant {
  name: string;
  merchant: string | null;
  website: string | null;
  channel: SandboxTransaction['payment_channel'];
  category: [string, string];
  pfc: [string, string];
  /** Inclusive range of the amount in dollars; negative for money coming in. */
  amount: [number, number];
  account: 'checking' | 'credit card' | 'savings';
}

const MERCHANTS: Merchant[] = [
  { name: 'Uber 063015 SF**POOL**', merchant: 'Uber', website: 'uber.com', channel: 'online', category: ['Travel', 'Taxi'], pfc: ['TRANSPORTATION', 'TRANSPORTATION_TAXIS_AND_RIDE_SHARES'], amount: [6, 42], account: 'credit card' },
  { name: 'Starbucks', merchant: 'Starbucks', website: 'starbucks.com', channel: 'in store', category: ['Food and Drink', 'Coffee Shop'], pfc: ['FOOD_AND_DRINK', 'FOOD_AND_DRINK_COFFEE'], amount: [3, 12], account: 'credit card' },
  { name: "McDonald's", merchant: "McDonald's", website: 'mcdonalds.com', channel: 'in store', category: ['Food and Drink', 'Restaurants'], pfc: ['FOOD_AND_DRINK', 'FOOD_AND_DRINK_FAST_FOOD'], amount: [5, 20], account: 'credit card' },
  { name: 'United Airlines', merchant: 'United Airlines', website: 'united.com', channel: 'online', category: ['Travel', 'Airlines and Aviation Services'], pfc: ['TRAVEL', 'TRAVEL_FLIGHTS'], amount: [180, 650], account: 'credit card' },
  { name: 'Touchstone Climbing', merchant: 'Touchstone', website: null, channel: 'in store', category: ['Recreation', 'Gyms and Fitness Centers'], pfc: ['PERSONAL_CARE', 'PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS'], amount: [78, 78], account: 'checking' },
  { name: 'SparkFun', merchant: 'SparkFun', website: 'sparkfun.com', channel: 'online', category: ['Shops', 'Computers and Electronics'], pfc: ['GENERAL_MERCHANDISE', 'GENERAL_MERCHANDISE_ELECTRONICS'], amount: [15, 120], account: 'credit card' },
  { name: 'Madison Bicycle Shop', merchant: 'Madison Bicycle Shop', website: null, channel: 'in store', category: ['Shops', 'Sporting Goods'], pfc: ['GENERAL_MERCHANDISE', 'GENERAL_MERCHANDISE_SPORTING_GOODS'], amount: [25, 500], account: 'checking' },
  { name: 'Whole Foods Market', merchant: 'Whole Foods', website: 'wholefoodsmarket.com', channel: 'in store', category: ['Shops', 'Supermarkets and Groceries'], pfc: ['FOOD_AND_DRINK', 'FOOD_AND_DRINK_GROCERIES'], amount: [20, 180], account: 'checking' },
  { name: 'PG&E ELECTRIC BILL', merchant: 'PG&E', website: 'pge.com', channel: 'online', category: ['Service', 'Utilities'], pfc: ['RENT_AND_UTILITIES', 'RENT_AND_UTILITIES_GAS_AND_ELECTRICITY'], amount: [60, 160], account: 'checking' },
  { name: 'CD DEPOSIT .INITIAL.', merchant: null, website: null, channel: 'other', category: ['Transfer', 'Deposit'], pfc: ['TRANSFER_IN', 'TRANSFER_IN_DEPOSIT'], amount: [-1000, -200], account: 'savings' },
  { name: 'INTRST PYMNT', merchant: null, website: null, channel: 'other', category: ['Transfer', 'Credit'], pfc: ['INCOME', 'INCOME_INTEREST_EARNED'], amount: [-6, -1], account: 'savings' },
  { name: 'ACME PAYROLL', merchant: null, website: null, channel: 'other', category: ['Transfer', 'Payroll'], pfc: ['INCOME', 'INCOME_WAGES'], amount: [-2800, -2400], account: 'checking' },
];

/** A repeatable pseudo-random sequence (mulberry32), so every run shows the same sandbox data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Plaid-looking opaque ids (37 alphanumerics), derived from what they name so they are stable. */
export function plaidId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 37);
}

export function sandboxAccounts(itemId: string): SandboxAccount[] {
  const account = (key: string, name: string, official: string, mask: string, type: SandboxAccount['type'], subtype: SandboxAccount['subtype'], balances: [number | null, number, number | null]) => ({
    account_id: plaidId(itemId, 'account', key),
    balances: { available: balances[0], current: balances[1], limit: balances[2], iso_currency_code: 'USD', unofficial_currency_code: null },
    mask,
    name,
    official_name: official,
    type,
    subtype,
    persistent_account_id: plaidId('persistent', key),
  });
  return [
    account('checking', 'Plaid Checking', 'Plaid Gold Standard 0% Interest Checking', '0000', 'depository', 'checking', [100, 110, null]),
    account('savings', 'Plaid Saving', 'Plaid Silver Standard 0.1% Interest Saving', '1111', 'depository', 'savings', [200, 210, null]),
    account('credit', 'Plaid Credit Card', 'Plaid Diamond 12.5% APR Interest Credit Card', '3333', 'credit', 'credit card', [null, 410, 2000]),
  ];
}

const DAY_MS = 86_400_000;

export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The item's transaction history: `count` transactions spread over the two years before `today`,
 * oldest first. The same item id and day give the same data; ids are unique per item.
 */
export function sandboxTransactions(itemId: string, accounts: SandboxAccount[], today: number, count: number): SandboxTransaction[] {
  const next = random(0x5eed);
  const accountOf = (kind: Merchant['account']) => accounts.find((a) => a.subtype === kind)!.account_id;
  const todayStart = Math.floor(today / DAY_MS) * DAY_MS;
  const spanDays = 730;
  const transactions: SandboxTransaction[] = [];
  for (let i = 0; i < count; i += 1) {
    const merchant = MERCHANTS[Math.floor(next() * MERCHANTS.length)]!;
    // Spread evenly over the span, jittered, oldest first.
    const daysAgo = Math.max(0, Math.round(spanDays - ((i + next()) * spanDays) / count));
    const date = todayStart - daysAgo * DAY_MS;
    const [low, high] = merchant.amount;
    const amount = Math.round((low + next() * (high - low)) * 100) / 100;
    transactions.push(makeTransaction(plaidId(itemId, 'transaction', String(i)), accountOf(merchant.account), merchant, amount, date, daysAgo < 2));
  }
  return transactions;
}

/** One more purchase, dated `today`: what a fired SYNC_UPDATES_AVAILABLE webhook announces. */
export function newTransaction(itemId: string, accounts: SandboxAccount[], today: number, serial: number): SandboxTransaction {
  const merchant = MERCHANTS[serial % MERCHANTS.length]!;
  const amount = merchant.amount[0];
  const account = accounts.find((a) => a.subtype === merchant.account)!.account_id;
  return makeTransaction(plaidId(itemId, 'fired', String(serial)), account, merchant, amount, today, true);
}

/** The settled version of a pending transaction: a new id, pointing back at the pending one. */
export function postedTransaction(itemId: string, pending: SandboxTransaction): SandboxTransaction {
  return { ...pending, transaction_id: plaidId(itemId, 'posted', pending.transaction_id), pending: false, pending_transaction_id: pending.transaction_id };
}

function makeTransaction(id: string, accountId: string, m: Merchant, amount: number, date: number, pending: boolean): SandboxTransaction {
  return {
    transaction_id: id,
    account_id: accountId,
    account_owner: null,
    amount,
    iso_currency_code: 'USD',
    unofficial_currency_code: null,
    date: isoDate(date),
    authorized_date: isoDate(date - DAY_MS),
    datetime: null,
    authorized_datetime: null,
    name: m.name,
    merchant_name: m.merchant,
    merchant_entity_id: null,
    logo_url: null,
    website: m.website,
    payment_channel: m.channel,
    pending,
    pending_transaction_id: null,
    category: [...m.category],
    category_id: plaidId('category', ...m.category).replace(/\D/g, '').padEnd(8, '0').slice(0, 8),
    personal_finance_category: { primary: m.pfc[0], detailed: m.pfc[1], confidence_level: 'VERY_HIGH' },
    location: { address: null, city: null, region: null, postal_code: null, country: null, lat: null, lon: null, store_number: null },
    payment_meta: { by_order_of: null, payee: null, payer: null, payment_method: null, payment_processor: null, ppd_id: null, reason: null, reference_number: null },
    counterparties: [],
    check_number: null,
    transaction_code: null,
    transaction_type: m.channel === 'online' ? 'digital' : m.channel === 'in store' ? 'place' : 'special',
  };
}
