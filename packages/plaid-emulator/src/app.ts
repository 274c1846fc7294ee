import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { DEFAULT_DAYS_REQUESTED, Items, currentTransactions, grantedAccounts, type Item } from './items.ts';
import { invalidField, itemLoginRequired, missingFields, PlaidError, requestId, unknownFields, userPermissionRevoked, type PlaidErrorObject } from './plaid-error.ts';
import { checkRequest, isSpecEndpoint } from './spec.ts';
import { INSTITUTIONS } from './sandbox-data.ts';
import { WebhookDispatcher, WebhookSender, type WebhookContent, type WebhookDelivery } from './webhooks.ts';

/** What the emulator accepts when no credentials are given; not secrets. */
export const PLAID_EMULATOR_DEFAULT_CLIENT_ID = 'emulator-client-id';
export const PLAID_EMULATOR_DEFAULT_SECRET = 'emulator-secret';

export interface PlaidEmulatorOptions {
  /** The credentials it checks, as Plaid checks `client_id`/`secret` (body) or `PLAID-CLIENT-ID`/`PLAID-SECRET` (headers). */
  clientId?: string;
  secret?: string;
  now?: () => number;
  /** How long after a link `/transactions/sync` answers NOT_READY (Plaid's first pull). Default 3000. */
  productNotReadyMs?: number;
  /**
   * How long after the initial update (last 30 days, INITIAL_UPDATE_COMPLETE) the rest arrives
   * (HISTORICAL_UPDATE_COMPLETE). Default 0: both at once, so offline runs show the whole history
   * as soon as the item is ready; set it to see the two steps as Plaid takes them.
   */
  historicalUpdateMs?: number;
  /** Days of history of items linked without `options.transactions.days_requested`. Default 90, as Plaid. */
  defaultDaysRequested?: number;
  /** Delays of the retries of a webhook the receiver did not answer 2xx. Default [1000, 5000, 30000]. */
  webhookRetryDelaysMs?: number[];
  /** Transactions in each item's two-year history. Default 300. */
  transactionsPerItem?: number;
  /** Where to send an item's webhooks when its link named none. */
  webhookUrl?: string;
  logger?: boolean;
}

export interface PlaidEmulator {
  app: FastifyInstance;
  /** Every attempt to deliver a webhook so far, in the order the receivers answered them. */
  deliveries: WebhookDelivery[];
  /**
   * How many webhooks were queued so far (ids `webhook-1` to `webhook-<n>`). Webhooks go out after
   * the answer that caused them: every one queued was tried once when `deliveries` holds all n ids.
   */
  webhooksQueued(): number;
}

type Body = Record<string, unknown>;

const SYNC_COUNT_DEFAULT = 100;
/** The `/sandbox/item/fire_webhook` codes a transactions item fires. */
const SANDBOX_WEBHOOK_CODES = new Set(['SYNC_UPDATES_AVAILABLE', 'DEFAULT_UPDATE', 'NEW_ACCOUNTS_AVAILABLE', 'LOGIN_REPAIRED', 'USER_PERMISSION_REVOKED', 'USER_ACCOUNT_REVOKED', 'PENDING_DISCONNECT']);
/**
 * The other codes of the spec's fire_webhook enum, with the product each needs: these items have
 * transactions only, so Plaid answers SANDBOX_PRODUCT_NOT_ENABLED (the spec: "If the Item does not
 * support the product"). AUTHORIZATION_GRANTED is in the enum but documented nowhere.
 */
const SANDBOX_WEBHOOK_PRODUCTS: Record<string, string> = {
  SMS_MICRODEPOSITS_VERIFICATION: 'auth',
  RECURRING_TRANSACTIONS_UPDATE: 'recurring_transactions',
  PRODUCT_READY: 'assets',
  ERROR: 'assets',
  AUTHORIZATION_GRANTED: 'auth',
};
/** DEFAULT_UPDATE's `webhook_type` to the product it needs, when not transactions. */
const DEFAULT_UPDATE_PRODUCTS: Record<string, string> = { AUTH: 'auth', HOLDINGS: 'investments', INVESTMENTS_TRANSACTIONS: 'investments', LIABILITIES: 'liabilities', ASSETS: 'assets' };
type ItemEvent = 'ERROR' | 'PENDING_EXPIRATION' | 'PENDING_DISCONNECT' | 'USER_PERMISSION_REVOKED' | 'USER_ACCOUNT_REVOKED';
const ITEM_ERROR_HOOKS = new Set<string>(['ERROR', 'PENDING_EXPIRATION', 'PENDING_DISCONNECT', 'USER_PERMISSION_REVOKED', 'USER_ACCOUNT_REVOKED'] satisfies ItemEvent[]);
const DISCONNECT_REASONS = new Set(['INSTITUTION_TOKEN_EXPIRATION', 'INSTITUTION_MIGRATION']);
const CONSENT_NOTICE_MS = 7 * 86_400_000;
const LINK_TOKEN_TTL_MS = 4 * 3_600_000;

/**
 * A Plaid API emulator for offline runs and tests, driven by the real `plaid` SDK: the request
 * and response shapes and error objects of the endpoints plaid-service uses, with deterministic
 * sandbox data. Also `/_emulator/fail-next` (the next Plaid call fails as asked) and `/health`.
 */
export async function buildPlaidEmulator(options: PlaidEmulatorOptions = {}): Promise<PlaidEmulator> {
  const clientId = options.clientId ?? PLAID_EMULATOR_DEFAULT_CLIENT_ID;
  const secret = options.secret ?? PLAID_EMULATOR_DEFAULT_SECRET;
  const now = options.now ?? Date.now;
  const items = new Items({
    now,
    productNotReadyMs: options.productNotReadyMs ?? 3_000,
    historicalUpdateMs: options.historicalUpdateMs ?? 0,
    transactionsPerItem: options.transactionsPerItem ?? 300,
  });
  const defaultDays = options.defaultDaysRequested ?? DEFAULT_DAYS_REQUESTED;
  const webhooks = await WebhookSender.create(now);
  const deliveries: WebhookDelivery[] = [];
  const dispatcher = new WebhookDispatcher(webhooks, now, options.webhookRetryDelaysMs ?? [1_000, 5_000, 30_000], (d) => deliveries.push(d));
  let failNext: { error: PlaidError; path: string | undefined } | undefined;
  /** Link tokens made for update mode, to the item they repair. */
  const updateModeTokens = new Map<string, { itemId: string; expiresAt: number }>();

  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 1024 * 1024 });
  app.addHook('onClose', async () => dispatcher.close());

  /** An item's webhook, sent in the background (after the current request is answered) when it has a URL; its id. */
  const notify = (item: Item, content: WebhookContent): string | undefined =>
    item.webhook ? dispatcher.dispatch(item.webhook, { ...content, item_id: item.itemId, environment: 'sandbox' }) : undefined;

  const syncUpdatesAvailable = (item: Item) => ({
    webhook_type: 'TRANSACTIONS',
    webhook_code: 'SYNC_UPDATES_AVAILABLE',
    initial_update_complete: item.loaded !== 'NOT_READY',
    historical_update_complete: item.loaded === 'HISTORICAL_UPDATE_COMPLETE',
  });

  /** Lets an item's first pull progress; once the app called sync, Plaid announces each step. */
  const pump = (item: Item) => {
    const completed = items.advance(item);
    if (completed.length > 0 && item.syncSubscribed) void notify(item, syncUpdatesAvailable(item));
  };
  /** Wakes the pull up when its next step is due, so webhooks go out without any call. */
  const schedulePull = (item: Item) => {
    for (const step of ['INITIAL_UPDATE_COMPLETE', 'HISTORICAL_UPDATE_COMPLETE'] as const) {
      const due = items.dueAt(item, step);
      if (due !== undefined && due > now()) dispatcher.later(due - now(), () => pump(item));
    }
  };
  /** The item of a request's access token, its pull brought up to date. */
  const itemOf = (accessToken: unknown, opts: { allowItemError?: boolean } = {}) => {
    const item = items.get(accessToken, { allowItemError: true });
    pump(item);
    return items.get(accessToken, opts);
  };

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof PlaidError) return reply.status(err.status).send(err.toBody());
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    const failure =
      status < 500
        ? new PlaidError('INVALID_REQUEST', 'INVALID_BODY', `body could not be parsed as JSON: ${(err as Error).message}`)
        : new PlaidError('API_ERROR', 'INTERNAL_SERVER_ERROR', 'an unexpected error occurred');
    return reply.status(failure.status).send(failure.toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    const err = new PlaidError('INVALID_REQUEST', 'NOT_FOUND', `the requested resource was not found: ${req.method} ${req.url.split('?')[0]}`, { status: 404 });
    return reply.status(404).send(err.toBody());
  });

  // Plaid's API: credentials first, then any armed failure.
  app.addHook('preHandler', async (req) => {
    if (req.url.startsWith('/_emulator') || req.url === '/health') return;
    if (req.method !== 'POST') throw new PlaidError('INVALID_REQUEST', 'INVALID_HTTP_METHOD', 'Plaid API calls are POST requests');
    const body = bodyOf(req);
    const givenId = header(req, 'plaid-client-id') ?? body.client_id;
    const givenSecret = header(req, 'plaid-secret') ?? body.secret;
    const missing = [givenId ? undefined : 'client_id', givenSecret ? undefined : 'secret'].filter((f): f is string => f !== undefined);
    if (missing.length) throw missingFields(missing);
    if (givenId !== clientId || givenSecret !== secret) {
      throw new PlaidError('INVALID_INPUT', 'INVALID_API_KEYS', 'invalid client_id or secret provided');
    }
    if (failNext && (failNext.path === undefined || failNext.path === req.url)) {
      const { error } = failNext;
      failNext = undefined;
      throw error;
    }
    const path = req.url.split('?')[0]!;
    if (isSpecEndpoint(path)) checkAgainstSpec(path, body);
  });

  const ok = <T extends object>(data: T) => ({ ...data, request_id: requestId() });

  app.post('/link/token/create', async (req) => {
    const body = bodyOf(req);
    // The spec says it in prose: one of `user` and `user_id` is required.
    if (body.user === undefined && body.user_id === undefined) throw missingFields(['user']);
    // Update mode: an item's access token instead of products (an item in error too: that is what it is for).
    const updating = body.access_token === undefined || body.access_token === null ? undefined : items.get(body.access_token, { allowItemError: true });
    if (!Array.isArray(body.products) && !updating) throw missingFields(['products']);
    refuseBalanceProduct(body.products);
    const expiresAt = now() + LINK_TOKEN_TTL_MS;
    const linkToken = `link-sandbox-${crypto.randomUUID()}`;
    if (updating) updateModeTokens.set(linkToken, { itemId: updating.itemId, expiresAt });
    return ok({ link_token: linkToken, expiration: isoSeconds(expiresAt) });
  });

  app.post('/sandbox/public_token/create', async (req) => {
    const body = bodyOf(req);
    refuseBalanceProduct(body.initial_products);
    const opts = (body.options ?? {}) as Body;
    const webhook = typeof opts.webhook === 'string' ? opts.webhook : (options.webhookUrl ?? null);
    const withTransactions = Array.isArray(body.initial_products) && body.initial_products.includes('transactions');
    const days = ((opts.transactions ?? {}) as Body).days_requested;
    return ok({ public_token: items.createPublicToken(String(body.institution_id), webhook, withTransactions ? (typeof days === 'number' ? days : defaultDays) : undefined) });
  });

  app.post('/item/public_token/exchange', async (req) => {
    const body = bodyOf(req);
    const item = items.exchange(String(body.public_token));
    schedulePull(item);
    return ok({ access_token: item.accessToken, item_id: item.itemId });
  });

  app.post('/item/get', async (req) => {
    const item = itemOf(bodyOf(req).access_token, { allowItemError: true });
    const updated = items.dueAt(item, 'INITIAL_UPDATE_COMPLETE');
    const lastUpdate = item.loaded !== 'NOT_READY' && updated !== undefined ? new Date(updated).toISOString() : null;
    return ok({ item: itemObject(item), status: { transactions: { last_successful_update: lastUpdate, last_failed_update: null }, last_webhook: null } });
  });

  app.post('/accounts/get', async (req) => {
    const item = itemOf(bodyOf(req).access_token);
    return ok({ accounts: grantedAccounts(item), item: itemObject(item) });
  });

  app.post('/transactions/sync', async (req) => {
    const body = bodyOf(req);
    const item = itemOf(body.access_token);
    const opts = (body.options ?? {}) as Body;
    const page = items.sync(item, {
      cursor: typeof body.cursor === 'string' ? body.cursor : undefined,
      count: typeof body.count === 'number' ? body.count : SYNC_COUNT_DEFAULT,
      daysRequested: typeof opts.days_requested === 'number' ? opts.days_requested : undefined,
      accountId: typeof opts.account_id === 'string' ? opts.account_id : undefined,
    });
    schedulePull(item);
    return ok(page);
  });

  app.post('/item/remove', async (req) => {
    items.remove(items.get(bodyOf(req).access_token, { allowItemError: true }));
    return ok({});
  });

  app.post('/webhook_verification_key/get', async (req) => {
    const body = bodyOf(req);
    if (body.key_id !== webhooks.key.kid) throw new PlaidError('INVALID_INPUT', 'INVALID_WEBHOOK_VERIFICATION_KEY_ID', 'invalid key_id provided');
    return ok({ key: webhooks.key });
  });

  app.post('/sandbox/item/fire_webhook', async (req) => {
    const body = bodyOf(req);
    fireWebhook(itemOf(body.access_token, { allowItemError: true }), String(body.webhook_code), typeof body.webhook_type === 'string' ? body.webhook_type : undefined);
    return ok({ webhook_fired: true });
  });

  /**
   * What Plaid's sandbox does on `/sandbox/item/fire_webhook`: the item changes at once, the
   * webhook goes out after the answer (as at Plaid). Returns the webhook's id.
   */
  function fireWebhook(item: Item, code: string, webhookType?: string): string | undefined {
    const product = code === 'DEFAULT_UPDATE' && webhookType !== undefined ? DEFAULT_UPDATE_PRODUCTS[webhookType] : SANDBOX_WEBHOOK_PRODUCTS[code];
    if (product) throw new PlaidError('SANDBOX_ERROR', 'SANDBOX_PRODUCT_NOT_ENABLED', `The ${product} product is not enabled on this item`);
    if (!SANDBOX_WEBHOOK_CODES.has(code)) throw invalidField(`webhook_code must be one of ${[...SANDBOX_WEBHOOK_CODES].join(', ')}`);
    if (!item.webhook) throw new PlaidError('SANDBOX_ERROR', 'SANDBOX_WEBHOOK_INVALID', "Webhook for this item is either not set up, or invalid. Please update the item's webhook and try again.");
    let payload: WebhookContent;
    if (code === 'SYNC_UPDATES_AVAILABLE' || code === 'DEFAULT_UPDATE') {
      const changes = items.simulateUpdates(item);
      payload = code === 'SYNC_UPDATES_AVAILABLE' ? syncUpdatesAvailable(item) : { webhook_type: 'TRANSACTIONS', webhook_code: code, new_transactions: changes.added, error: null };
    } else if (code === 'USER_PERMISSION_REVOKED' || code === 'USER_ACCOUNT_REVOKED' || code === 'PENDING_DISCONNECT') {
      return setItemError(item, code);
    } else {
      if (code === 'LOGIN_REPAIRED') item.error = null;
      // LOGIN_REPAIRED has no `error` field; NEW_ACCOUNTS_AVAILABLE's is null when there is none.
      payload = code === 'LOGIN_REPAIRED' ? { webhook_type: 'ITEM', webhook_code: code } : { webhook_type: 'ITEM', webhook_code: code, error: null };
    }
    return notify(item, payload);
  }

  /**
   * Puts the item in an error state (or warns of one) and sends the ITEM webhook Plaid sends for it.
   * PENDING_DISCONNECT: the item stops working in 7 days (`reason` INSTITUTION_TOKEN_EXPIRATION, the
   * default, also sets its consent expiry); USER_ACCOUNT_REVOKED: one account (the first granted one
   * unless `accountId`) is no longer listed, the item otherwise works.
   */
  function setItemError(item: Item, code: ItemEvent, opts: { reason?: string; accountId?: string } = {}): string | undefined {
    if (code === 'PENDING_EXPIRATION') {
      item.consentExpiresAt = now() + CONSENT_NOTICE_MS;
      return notify(item, { webhook_type: 'ITEM', webhook_code: code, consent_expiration_time: isoSeconds(item.consentExpiresAt) });
    }
    if (code === 'PENDING_DISCONNECT') {
      const reason = opts.reason ?? 'INSTITUTION_TOKEN_EXPIRATION';
      const disconnectAt = now() + CONSENT_NOTICE_MS;
      if (reason === 'INSTITUTION_TOKEN_EXPIRATION') item.consentExpiresAt = disconnectAt;
      return notify(item, { webhook_type: 'ITEM', webhook_code: code, reason, disconnect_time: isoSeconds(disconnectAt) });
    }
    if (code === 'USER_ACCOUNT_REVOKED') {
      const account = opts.accountId ?? (grantedAccounts(item)[0] ?? item.accounts[0]!).account_id;
      item.revokedAccountIds.add(account);
      return notify(item, { webhook_type: 'ITEM', webhook_code: code, account_id: account });
    }
    item.error = (code === 'ERROR' ? itemLoginRequired() : userPermissionRevoked()).toBody();
    return notify(item, { webhook_type: 'ITEM', webhook_code: code, error: webhookError(item.error) });
  }

  app.post('/sandbox/item/reset_login', async (req) => {
    const item = itemOf(bodyOf(req).access_token, { allowItemError: true });
    setItemError(item, 'ERROR');
    return ok({ reset_login: true });
  });

  // Emulator controls (no credentials).
  app.post('/_emulator/fail-next', async (req, reply) => {
    const body = bodyOf(req);
    if (typeof body.error_type !== 'string' || typeof body.error_code !== 'string') {
      return reply.status(400).send({ error: 'send {error_type, error_code, status?, error_message?, path?}' });
    }
    failNext = {
      error: new PlaidError(body.error_type, body.error_code, typeof body.error_message === 'string' ? body.error_message : `emulated ${body.error_code}`, {
        ...(typeof body.status === 'number' ? { status: body.status } : {}),
      }),
      path: typeof body.path === 'string' ? body.path : undefined,
    };
    return { armed: true };
  });
  // Item error webhooks by item id: ERROR (ITEM_LOGIN_REQUIRED), PENDING_EXPIRATION, PENDING_DISCONNECT
  // (`reason`?), USER_PERMISSION_REVOKED, USER_ACCOUNT_REVOKED (`account_id`?).
  app.post('/_emulator/items/:item_id/item-error', async (req, reply) => {
    const { item_id } = req.params as { item_id: string };
    const item = items.find(item_id);
    if (!item) return reply.status(404).send({ error: 'no such item' });
    const { webhook_code: code, reason, account_id: accountId } = bodyOf(req);
    const usage = `send {webhook_code: ${[...ITEM_ERROR_HOOKS].join(' | ')}, reason?: ${[...DISCONNECT_REASONS].join(' | ')}, account_id?}`;
    if (typeof code !== 'string' || !ITEM_ERROR_HOOKS.has(code)) return reply.status(400).send({ error: usage });
    if (reason !== undefined && (typeof reason !== 'string' || !DISCONNECT_REASONS.has(reason))) return reply.status(400).send({ error: usage });
    if (accountId !== undefined && !item.accounts.some((a) => a.account_id === accountId)) return reply.status(400).send({ error: 'account_id is not an account of this item' });
    return {
      webhook_id: setItemError(item, code as ItemEvent, { ...(typeof reason === 'string' ? { reason } : {}), ...(typeof accountId === 'string' ? { accountId } : {}) }) ?? null,
    };
  });
  // What the user does in Link's update mode (with `link_token`, one made for this item): logs in
  // again, re-grants revoked accounts, renews consent. Plaid sends no webhook for it (LOGIN_REPAIRED
  // is for repairs outside the app): the app learns it from /item/get or a sync that works again.
  app.post('/_emulator/items/:item_id/repair', async (req, reply) => {
    const { item_id } = req.params as { item_id: string };
    const item = items.find(item_id);
    if (!item) return reply.status(404).send({ error: 'no such item' });
    const { link_token: linkToken } = bodyOf(req);
    if (linkToken !== undefined) {
      const token = typeof linkToken === 'string' ? updateModeTokens.get(linkToken) : undefined;
      if (!token || token.itemId !== item.itemId || token.expiresAt <= now()) return reply.status(400).send({ error: 'link_token is not a live update-mode link token of this item' });
      updateModeTokens.delete(linkToken as string);
    }
    item.error = null;
    item.revokedAccountIds.clear();
    item.consentExpiresAt = null;
    return { repaired: true };
  });
  // The next /transactions/sync call of the item with a mid-pagination cursor sees the data change under it.
  app.post('/_emulator/items/:item_id/mutate-during-pagination', async (req, reply) => {
    const { item_id } = req.params as { item_id: string };
    const item = items.find(item_id);
    if (!item) return reply.status(404).send({ error: 'no such item' });
    item.mutateOnNextPage = true;
    return { armed: true };
  });
  // The sandbox webhook by item id, for tests that never see the access token (it stays inside plaid-service).
  app.post('/_emulator/items/:item_id/fire-webhook', async (req, reply) => {
    const { item_id } = req.params as { item_id: string };
    const item = items.find(item_id);
    if (!item) return reply.status(404).send({ error: 'no such item' });
    const code = bodyOf(req).webhook_code;
    return { webhook_id: fireWebhook(item, typeof code === 'string' ? code : 'SYNC_UPDATES_AVAILABLE') ?? null };
  });
  app.get('/_emulator/webhooks', async () => ({ queued: dispatcher.queued, deliveries }));
  app.get('/_emulator/items/:item_id/transactions', async (req, reply) => {
    const { item_id } = req.params as { item_id: string };
    const item = items.find(item_id);
    if (!item) return reply.status(404).send({ error: 'no such item' });
    return { transactions: currentTransactions(item) };
  });
  app.get('/health', async () => ({ status: 'ok' }));

  return { app, deliveries, webhooksQueued: () => dispatcher.queued };
}

function bodyOf(req: FastifyRequest): Body {
  return req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Body) : {};
}

function header(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value ? value : undefined;
}

/** Plaid's order: missing fields, then unknown ones, then values it cannot take. */
function checkAgainstSpec(path: Parameters<typeof checkRequest>[0], body: Body): void {
  const violations = checkRequest(path, body);
  if (!violations) return;
  if (violations.missing.length) throw missingFields(violations.missing);
  if (violations.unknown.length) throw unknownFields(violations.unknown);
  throw invalidField(violations.invalid.join('; '));
}

/** Balance is billed on its own and Plaid refuses it in a Link products list. */
function refuseBalanceProduct(products: unknown): void {
  if (Array.isArray(products) && products.includes('balance')) {
    throw new PlaidError('INVALID_INPUT', 'INVALID_PRODUCT', 'balance is not a valid product for this request: it is available on every Item without being listed');
  }
}

/** An item's error as ITEM webhooks carry it: no request_id (the spec: omitted in webhooks). */
function webhookError(error: PlaidErrorObject): Omit<PlaidErrorObject, 'request_id'> {
  const { request_id: _omitted, ...rest } = error;
  return rest;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function itemObject(item: Item) {
  return {
    item_id: item.itemId,
    institution_id: item.institutionId,
    institution_name: INSTITUTIONS[item.institutionId] ?? null,
    webhook: item.webhook ?? '',
    error: item.error,
    available_products: ['balance', 'identity'],
    billed_products: ['transactions'],
    products: ['transactions'],
    consented_products: ['transactions'],
    consent_expiration_time: item.consentExpiresAt === null ? null : isoSeconds(item.consentExpiresAt),
    update_type: 'background',
  };
}
