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
const IsoDate = Type.String({ pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$', description: 'YYYY-MM-DD' });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

// ---- shared shapes ----

export const PlaidItem = Type.Object(
  {
    item_id: Type.String(),
    institution_id: Nullable(Type.String()),
    institution_name: Nullable(Type.String()),
    created_at: Type.String({ description: 'when the item was linked, ISO 8601' }),
  },
  { $id: 'PlaidItem' },
);
export type PlaidItem = Static<typeof PlaidItem>;

export const PlaidAccount = Type.Object(
  {
    account_id: Type.String(),
    item_id: Type.String(),
    name: Type.String(),
    official_name: Nullable(Type.String()),
    mask: Nullable(Type.String()),
    type: Type.String({ description: 'depository, credit, loan, investment, other' }),
    subtype: Nullable(Type.String()),
    balances: Type.Object({
      available: Nullable(Type.Number()),
      current: Nullable(Type.Number()),
      limit: Nullable(Type.Number()),
      iso_currency_code: Nullable(Type.String()),
    }),
  },
  { $id: 'PlaidAccount' },
);
export type PlaidAccount = Static<typeof PlaidAccount>;

export const PlaidTransaction = Type.Object(
  {
    transaction_id: Type.String(),
    account_id: Type.String(),
    item_id: Type.String(),
    amount: Type.Number({ description: 'positive = money out of the account, as in Plaid' }),
    iso_currency_code: Nullable(Type.String()),
    date: IsoDate,
    authorized_date: Nullable(Type.String()),
    name: Type.String(),
    merchant_name: Nullable(Type.String()),
    category: Nullable(Type.String({ description: "Plaid's personal finance category (primary)" })),
    pending: Type.Boolean(),
    payment_channel: Nullable(Type.String()),
  },
  { $id: 'PlaidTransaction' },
);
export type PlaidTransaction = Static<typeof PlaidTransaction>;

export const ItemAttention = Type.Object(
  {
    item_id: Type.String(),
    institution_name: Nullable(Type.String()),
    reason: Type.Union([Type.Literal('login_required'), Type.Literal('access_revoked'), Type.Literal('consent_expiring')], {
      description: 'login_required: open Plaid Link in update mode; access_revoked: link the bank again; consent_expiring: renew through Link before consent_expiration_time',
    }),
    message: Type.String(),
    consent_expiration_time: Nullable(Type.String({ description: 'ISO 8601, from Plaid PENDING_EXPIRATION' })),
  },
  { $id: 'PlaidItemAttention' },
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
  { additionalProperties: false },
);

export const LinkTokenReply = Type.Object({
  link_token: Type.String({ description: 'Open Plaid Link with this token' }),
  expiration: Type.String(),
});

export const PublicTokenBody = Type.Object(
  { public_token: Type.String({ minLength: 1, maxLength: 512, description: 'From Plaid Link onSuccess (or POST /api/plaid/sandbox/public-token)' }) },
  { additionalProperties: false },
);

export const ExchangePublicTokenReply = Type.Object({
  item_id: Type.String(),
  institution_id: Nullable(Type.String()),
  institution_name: Nullable(Type.String()),
  created_at: Type.String(),
  accounts: Type.Array(PlaidAccount),
});

export const AccountsQuery = Type.Object(
  { item_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) },
  { additionalProperties: false },
);
export const AccountsReply = Type.Object({ accounts: Type.Array(PlaidAccount), items_needing_attention: ItemsNeedingAttention });

export const TRANSACTIONS_MAX_COUNT = 500;

export const TransactionsQuery = Type.Object(
  {
    item_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    account_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    start_date: Type.Optional(IsoDate),
    end_date: Type.Optional(IsoDate),
    count: Type.Integer({ minimum: 1, maximum: TRANSACTIONS_MAX_COUNT, default: 100 }),
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: '`next_cursor` of the previous page (instead of offset)' })),
  },
  { additionalProperties: false },
);
export type TransactionsQuery = Static<typeof TransactionsQuery>;

export const TransactionsReply = Type.Object({
  transactions: Type.Array(PlaidTransaction, { description: 'newest first' }),
  total: Type.Integer({ minimum: 0, description: 'how many transactions match the filters, over all pages' }),
  next_cursor: Nullable(Type.String({ description: 'pass as `cursor` for the next page; null on the last page' })),
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

export const ItemParams = Type.Object({ item_id: Type.String({ minLength: 1, maxLength: 128 }) });
export const RemoveItemReply = Type.Object({ item_id: Type.String(), removed: Type.Literal(true) });

export const SandboxPublicTokenBody = Type.Object(
  { institution_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "a sandbox institution, default First Platypus Bank (ins_109508)" })) },
  { additionalProperties: false },
);
export const SandboxPublicTokenReply = Type.Object({ public_token: Type.String() });

export const WebhookReply = Type.Object({ received: Type.Literal(true) });

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
