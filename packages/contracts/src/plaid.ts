// The Plaid API of the gateway and the NATS endpoints of plaid-service behind it. Every request to
// plaid-service names the user (the E.164 phone number from the access token) so it only ever
// touches that user's items. Plaid access tokens appear in none of these shapes, on purpose.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { E164_PATTERN } from './auth.ts';
import { defineEndpoint } from './endpoint.ts';

const User = Type.String({ pattern: E164_PATTERN, description: 'E.164 phone number of the logged-in user' });
// Bounds for what plaid-service accepts from the bus, the same as the gateway's HTTP schemas.
const PlaidId = Type.String({ minLength: 1, maxLength: 128 });
const PublicToken = Type.String({ minLength: 1, maxLength: 512 });
const InstitutionId = Type.String({ minLength: 1, maxLength: 64 });
const Cursor = Type.String({ minLength: 1, maxLength: 512 });
const IsoDate = Type.String({ pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$', description: 'YYYY-MM-DD', examples: ['2026-01-05'] });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

// ---- shared shapes ----

export const PlaidItem = Type.Object(
  {
    item_id: Type.String({ examples: ['item_6dk3Xz8a0eTqVbR2'] }),
    institution_id: Nullable(Type.String({ examples: ['ins_109508'] })),
    institution_name: Nullable(Type.String({ examples: ['First Platypus Bank'] })),
    created_at: Type.String({ description: 'when the item was linked, ISO 8601', examples: ['2026-01-05T10:00:00.000Z'] }),
  },
  { $id: 'Item' },
);
export type PlaidItem = Static<typeof PlaidItem>;

export const PlaidAccount = Type.Object(
  {
    account_id: Type.String({ examples: ['acc_BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp'] }),
    item_id: Type.String({ examples: ['item_6dk3Xz8a0eTqVbR2'] }),
    name: Type.String({ examples: ['Plaid Checking'] }),
    official_name: Nullable(Type.String({ examples: ['Plaid Gold Standard 0% Interest Checking'] })),
    mask: Nullable(Type.String({ examples: ['0000'] })),
    type: Type.String({ description: 'depository, credit, loan, investment, other', examples: ['depository'] }),
    subtype: Nullable(Type.String({ examples: ['checking'] })),
    balances: Type.Object({
      available: Nullable(Type.Number({ examples: [100] })),
      current: Nullable(Type.Number({ examples: [110] })),
      limit: Nullable(Type.Number({ examples: [null] })),
      iso_currency_code: Nullable(Type.String({ examples: ['USD'] })),
    }),
  },
  { $id: 'Account' },
);
export type PlaidAccount = Static<typeof PlaidAccount>;

export const PlaidTransaction = Type.Object(
  {
    transaction_id: Type.String({ examples: ['txn_lPNjeW1nR6CDn5okmGQ6hEpMo4lLNoSrzqDje'] }),
    account_id: Type.String({ examples: ['acc_BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp'] }),
    item_id: Type.String({ examples: ['item_6dk3Xz8a0eTqVbR2'] }),
    amount: Type.Number({ description: 'positive = money out of the account, as in Plaid', examples: [12.5] }),
    iso_currency_code: Nullable(Type.String({ examples: ['USD'] })),
    date: IsoDate,
    authorized_date: Nullable(Type.String({ examples: ['2026-01-04'] })),
    name: Type.String({ examples: ['Starbucks'] }),
    merchant_name: Nullable(Type.String({ examples: ['Starbucks'] })),
    category: Nullable(Type.String({ description: "Plaid's personal finance category (primary)", examples: ['FOOD_AND_DRINK'] })),
    pending: Type.Boolean({ examples: [false] }),
    payment_channel: Nullable(Type.String({ examples: ['in store'] })),
  },
  { $id: 'Transaction' },
);
export type PlaidTransaction = Static<typeof PlaidTransaction>;

export const ItemAttention = Type.Object(
  {
    item_id: Type.String({ examples: ['item_6dk3Xz8a0eTqVbR2'] }),
    institution_name: Nullable(Type.String({ examples: ['First Platypus Bank'] })),
    reason: Type.Union([Type.Literal('login_required'), Type.Literal('access_revoked'), Type.Literal('consent_expiring')], {
      description: 'login_required: open Plaid Link in update mode; access_revoked: link the bank again; consent_expiring: renew through Link before consent_expiration_time',
    }),
    message: Type.String({ examples: ['Log in to First Platypus Bank again through Plaid Link'] }),
    consent_expiration_time: Nullable(Type.String({ description: 'ISO 8601, from Plaid PENDING_EXPIRATION' })),
  },
  { $id: 'ItemAttention' },
);
export type ItemAttention = Static<typeof ItemAttention>;

const ItemsNeedingAttention = Type.Array(ItemAttention, {
  description: "the user's linked banks that need the user to act; those in error are left out of this answer's data",
});

export const TransactionsStatus = Type.Union([Type.Literal('ready'), Type.Literal('not_ready')], {
  description: "not_ready: Plaid is still pulling this item's first transactions; retry after `retry_after` seconds",
});

// ---- HTTP (gateway) ----

export const LinkTokenBody = Type.Object(
  {
    item_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: "Link's update mode for this linked item: to log in again, re-grant access or renew consent (items_needing_attention). Without it, a link token for a new bank",
      }),
    ),
  },
  { additionalProperties: false, examples: [{}] },
);

export const LinkTokenReply = Type.Object({
  link_token: Type.String({ description: 'Open Plaid Link with this token', examples: ['link-sandbox-af1a0311-da53-4636-b754-dd15cc058176'] }),
  expiration: Type.String({ examples: ['2026-01-05T14:00:00Z'] }),
});

export const PublicTokenBody = Type.Object(
  { public_token: Type.String({ minLength: 1, maxLength: 512, description: 'From Plaid Link onSuccess (or POST /api/plaid/sandbox/public-token)' }) },
  { additionalProperties: false, examples: [{ public_token: 'public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d' }] },
);

export const ExchangePublicTokenReply = Type.Object({
  item_id: Type.String({ examples: ['item_6dk3Xz8a0eTqVbR2'] }),
  institution_id: Nullable(Type.String({ examples: ['ins_109508'] })),
  institution_name: Nullable(Type.String({ examples: ['First Platypus Bank'] })),
  created_at: Type.String({ examples: ['2026-01-05T10:00:00.000Z'] }),
  accounts: Type.Array(PlaidAccount),
});

export const AccountsQuery = Type.Object(
  { item_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, examples: ['item_6dk3Xz8a0eTqVbR2'] })) },
  { additionalProperties: false },
);
export const AccountsReply = Type.Object({ accounts: Type.Array(PlaidAccount), items_needing_attention: ItemsNeedingAttention });

export const TRANSACTIONS_MAX_COUNT = 500;
export const TRANSACTIONS_DEFAULT_COUNT = 100;

export const TransactionsQuery = Type.Object(
  {
    item_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    account_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    start_date: Type.Optional(IsoDate),
    end_date: Type.Optional(IsoDate),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: TRANSACTIONS_MAX_COUNT, default: TRANSACTIONS_DEFAULT_COUNT })),
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: '`next_cursor` of the previous page (instead of offset)' })),
  },
  { additionalProperties: false },
);
export type TransactionsQuery = Static<typeof TransactionsQuery>;

export const TransactionsReply = Type.Object({
  transactions: Type.Array(PlaidTransaction, { description: 'newest first' }),
  total: Type.Integer({ minimum: 0, description: 'how many transactions match the filters, over all pages' }),
  next_cursor: Nullable(Type.String({ description: 'pass as `cursor` for the next page; null on the last page', examples: ['eyJvZmZzZXQiOjEwMH0'] })),
  not_ready_item_ids: Type.Array(Type.String(), { description: "items whose first transactions Plaid is still pulling; they are missing from this answer" }),
  items_needing_attention: ItemsNeedingAttention,
});

export const SignupReply = Type.Object({
  item: PlaidItem,
  accounts: Type.Array(PlaidAccount),
  transactions_status: TransactionsStatus,
  transactions: Type.Array(PlaidTransaction, { description: 'newest first, the first page' }),
  total_transactions: Type.Integer({ minimum: 0 }),
  next_cursor: Nullable(Type.String({ description: 'for GET /api/plaid/transactions?cursor=...' })),
  retry_after: Type.Optional(Type.Integer({ description: 'with transactions_status not_ready: seconds after which GET /api/plaid/transactions should have them' })),
  code: Type.Optional(Type.Literal('PLAID_PRODUCT_NOT_READY')),
});

export const ItemParams = Type.Object({ item_id: Type.String({ minLength: 1, maxLength: 128, examples: ['item_6dk3Xz8a0eTqVbR2'] }) });
export const RemoveItemReply = Type.Object({ item_id: Type.String({ examples: ['item_6dk3Xz8a0eTqVbR2'] }), removed: Type.Literal(true) });

export const SandboxPublicTokenBody = Type.Object(
  { institution_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "a sandbox institution, default First Platypus Bank (ins_109508)", examples: ['ins_109508'] })) },
  { additionalProperties: false, examples: [{}] },
);
export const SandboxPublicTokenReply = Type.Object({ public_token: Type.String({ examples: ['public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d'] }) });

export const WebhookReply = Type.Object({ received: Type.Literal(true) });

/** What Plaid POSTs (the fields plaid-service reads; Plaid sends more, all kept for the signature check). */
export const PlaidWebhookBody = Type.Object(
  {
    webhook_type: Type.String({ examples: ['TRANSACTIONS'], description: 'TRANSACTIONS, ITEM, ...' }),
    webhook_code: Type.String({ examples: ['SYNC_UPDATES_AVAILABLE'], description: 'SYNC_UPDATES_AVAILABLE, ERROR, PENDING_EXPIRATION, PENDING_DISCONNECT, USER_PERMISSION_REVOKED, USER_ACCOUNT_REVOKED, LOGIN_REPAIRED, ...' }),
    item_id: Type.String({ examples: ['item_6dk3Xz8a0eTqVbR2'] }),
    environment: Type.Optional(Type.String({ examples: ['sandbox'] })),
  },
  { additionalProperties: true, examples: [{ webhook_type: 'TRANSACTIONS', webhook_code: 'SYNC_UPDATES_AVAILABLE', item_id: 'item_6dk3Xz8a0eTqVbR2', environment: 'sandbox' }] },
);
export const PlaidWebhookHeaders = Type.Object({
  'plaid-verification': Type.Optional(
    Type.String({ description: 'A JWT (ES256) signed by Plaid whose request_body_sha256 claim is the SHA-256 of the body; required, a request without it answers 401 WEBHOOK_VERIFICATION_FAILED', examples: ['eyJhbGciOiJFUzI1NiIsImtpZCI6IjZjNTUxNmUxLTkyZGMtNDc5ZS1hOGZmLTVhNTE5OTJlMDAwMSIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MzYwNjg0MDAsInJlcXVlc3RfYm9keV9zaGEyNTYiOiIuLi4ifQ.c2lnbmF0dXJl'] }),
  ),
});

// ---- NATS ----

const TransactionsPage = Type.Object({
  transactions: Type.Array(PlaidTransaction),
  total: Type.Integer({ minimum: 0 }),
  next_cursor: Nullable(Type.String()),
  not_ready_item_ids: Type.Array(Type.String()),
  items_needing_attention: ItemsNeedingAttention,
});

export const PlaidSubjects = {
  createLinkToken: defineEndpoint('plaid.link_token.create', Type.Object({ user: User, item_id: Type.Optional(PlaidId) }), LinkTokenReply),
  createSandboxPublicToken: defineEndpoint(
    'plaid.sandbox_public_token.create',
    Type.Object({ user: User, institution_id: Type.Optional(InstitutionId) }),
    SandboxPublicTokenReply,
  ),
  exchangePublicToken: defineEndpoint(
    'plaid.public_token.exchange',
    Type.Object({ user: User, public_token: PublicToken }),
    ExchangePublicTokenReply,
  ),
  listAccounts: defineEndpoint('plaid.accounts.list', Type.Object({ user: User, item_id: Type.Optional(PlaidId) }), AccountsReply),
  listTransactions: defineEndpoint(
    'plaid.transactions.list',
    Type.Object({
      user: User,
      item_id: Type.Optional(PlaidId),
      account_id: Type.Optional(PlaidId),
      start_date: Type.Optional(IsoDate),
      end_date: Type.Optional(IsoDate),
      count: Type.Integer({ minimum: 1, maximum: TRANSACTIONS_MAX_COUNT }),
      offset: Type.Optional(Type.Integer({ minimum: 0 })),
      cursor: Type.Optional(Cursor),
    }),
    TransactionsPage,
  ),
  completeSignup: defineEndpoint('plaid.signup.complete', Type.Object({ user: User, public_token: PublicToken }), SignupReply),
  removeItem: defineEndpoint('plaid.item.remove', Type.Object({ user: User, item_id: PlaidId }), RemoveItemReply),
  receiveWebhook: defineEndpoint(
    'plaid.webhook.receive',
    Type.Object({
      body: Type.String({ maxLength: 1024 * 1024, description: 'the raw request body, byte for byte, for the sha256 check' }),
      verification: Type.Optional(Type.String({ minLength: 1, maxLength: 8192, description: 'the Plaid-Verification header' })),
    }),
    Type.Object({ received: Type.Literal(true), action: Type.Union([Type.Literal('synced'), Type.Literal('item_updated'), Type.Literal('ignored')]) }),
  ),
};
