import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CountryCode, Products } from 'plaid';
import { DEADLINE_MARGIN_MS, type HandlerContext } from '@repo/bus';
import { AppError, maskPhoneNumber, type EndpointRequest, type EndpointResponse, type ItemAttention, type PlaidAccount, type PlaidItem, type PlaidSubjects } from '@repo/contracts';
import type { PlaidItemHealth, PlaidItemRecord, PlaidStore } from '@repo/stores';
import type { PlaidSettings } from './config.ts';
import { callPlaid, plaidCallOptions, type PlaidCallOptions } from './plaid-client.ts';
import type { PlaidEndpoints } from './plaid-endpoints.ts';
import { mapPlaidError, plaidErrorOf } from './plaid-errors.ts';
import type { TokenCipher } from './token-cipher.ts';
import { syncTransactions, toAccount, type SyncOutcome } from './transactions-sync.ts';
import type { WebhookVerifier } from './webhook-verifier.ts';
import type { UpstreamMetrics } from '@repo/telemetry';

type Req<K extends keyof typeof PlaidSubjects> = EndpointRequest<(typeof PlaidSubjects)[K]>;
type Res<K extends keyof typeof PlaidSubjects> = EndpointResponse<(typeof PlaidSubjects)[K]>;

/** Seconds a client should wait before asking again for transactions that are not ready. */
const NOT_READY_RETRY_AFTER = 5;
const SYNC_PAGE_SIZE = 500;
// Kept back from signup's wait for what comes after it (the accounts, a page of transactions).
const SIGNUP_ANSWER_MS = 500;
/** How often a read asks Plaid again about an item in error (Plaid sends no webhook after a repair in update mode). */
const RECHECK_INTERVAL_MS = 60_000;
const TRANSACTION_WEBHOOKS = new Set(['SYNC_UPDATES_AVAILABLE', 'INITIAL_UPDATE', 'HISTORICAL_UPDATE', 'DEFAULT_UPDATE', 'TRANSACTIONS_REMOVED']);
const ITEM_WEBHOOKS = new Set(['ERROR', 'PENDING_EXPIRATION', 'PENDING_DISCONNECT', 'USER_PERMISSION_REVOKED', 'USER_ACCOUNT_REVOKED', 'LOGIN_REPAIRED']);
/** Item error codes that mean the user withdrew access (the whole item, or one of its accounts), not a login to redo. */
const REVOKED_CODES = new Set(['USER_PERMISSION_REVOKED', 'USER_ACCOUNT_REVOKED']);

type WebhookEvent = {
  webhook_type?: unknown;
  webhook_code?: unknown;
  item_id?: unknown;
  error?: unknown;
  consent_expiration_time?: unknown;
  disconnect_time?: unknown;
  account_id?: unknown;
};

export interface LinkedBanksDeps {
  settings: PlaidSettings;
  plaid: PlaidEndpoints;
  store: PlaidStore;
  cipher: TokenCipher;
  webhooks: WebhookVerifier;
  now: () => number;
  /** Plaid call durations and errors. */
  metrics?: UpstreamMetrics | undefined;
}

/**
 * A user's linked bank items: linking (link token, public-token exchange), the accounts and
 * transactions read from the store, keeping them in sync with Plaid, and removal. Every method
 * takes the user and only touches that user's items; access tokens are decrypted only to call Plaid.
 */
export class LinkedBanks {
  constructor(private readonly deps: LinkedBanksDeps) {}

  /**
   * A Link token for a new bank, or with `item_id` one for Link's update mode on that item (the
   * user logs in again, re-grants access or renews consent): Plaid's update mode is a link token
   * made with the item's access token and no products. Plaid sends no webhook once the user is
   * through, so the item is marked to be asked about again (/item/get) on its next read.
   */
  async createLinkToken({ user, item_id }: Req<'createLinkToken'>): Promise<Res<'createLinkToken'>> {
    const { settings, plaid, store } = this.deps;
    const item = item_id === undefined ? undefined : (await this.itemsOf(user, item_id, { evenInError: true }))[0]!;
    const data = await this.callPlaid((options) =>
      plaid.linkTokenCreate(
        {
          client_name: settings.clientName,
          language: settings.language,
          country_codes: settings.countryCodes as CountryCode[],
          user: { client_user_id: this.clientUserId(user) },
          ...(item
            ? { access_token: this.accessToken(item) }
            : { products: ['transactions' as Products], transactions: { days_requested: settings.transactionsDays } }),
          ...(settings.webhookUrl ? { webhook: settings.webhookUrl } : {}),
        },
        options,
      ),
    );
    if (item?.health?.error_code) {
      // As if last asked a minute ago: the next read asks Plaid whether the repair went through.
      await store.setItemHealth(item.item_id, { ...item.health, updated_at: new Date(this.deps.now() - RECHECK_INTERVAL_MS).toISOString() });
    }
    return { link_token: data.link_token, expiration: data.expiration };
  }

  async createSandboxPublicToken({ institution_id }: Req<'createSandboxPublicToken'>): Promise<Res<'createSandboxPublicToken'>> {
    const { settings, plaid } = this.deps;
    if (settings.env !== 'sandbox') throw new AppError('PLAID_SANDBOX_ONLY');
    const data = await this.callPlaid((options) =>
      plaid.sandboxPublicTokenCreate(
        {
          institution_id: institution_id ?? settings.sandboxInstitutionId,
          initial_products: ['transactions' as Products],
          // As a Link token asks (transactions.days_requested), or Plaid pulls 90 days only.
          options: { transactions: { days_requested: settings.transactionsDays }, ...(settings.webhookUrl ? { webhook: settings.webhookUrl } : {}) },
        },
        options,
      ),
    );
    return { public_token: data.public_token };
  }

  /** `bestEffortUntil`: the steps that may fail (the accounts, the first sync) end by then (signup keeps time for its own). */
  async exchangePublicToken({ user, public_token }: Req<'exchangePublicToken'>, ctx: HandlerContext, bestEffortUntil?: number): Promise<Res<'exchangePublicToken'>> {
    const { plaid, store, cipher } = this.deps;
    const exchanged = await this.callPlaid((options) => plaid.itemPublicTokenExchange({ public_token }, options));
    const itemId = exchanged.item_id;
    const accessToken = exchanged.access_token;
    let accounts: PlaidAccount[] = [];
    let institution: { institution_id: string | null; institution_name: string | null } = { institution_id: null, institution_name: null };
    try {
      const data = await this.callPlaid((options) => plaid.accountsGet({ access_token: accessToken }, options), bestEffortUntil);
      accounts = data.accounts.map((a) => toAccount(a, itemId));
      institution = { institution_id: data.item.institution_id ?? null, institution_name: data.item.institution_name ?? null };
    } catch (err) {
      // The item is linked at Plaid whatever happens here: store it anyway, GET /accounts retries.
      ctx.log.warn({ err, item_id: itemId }, 'accounts of a new item not fetched; GET /accounts will retry');
    }
    const record = {
      item_id: itemId,
      user,
      access_token_ciphertext: cipher.encrypt(accessToken, itemId),
      ...institution,
      created_at: new Date(this.deps.now()).toISOString(),
    };
    await store.addItem(record, accounts);
    ctx.log.info({ user: maskPhoneNumber(user), item_id: itemId, institution_id: record.institution_id }, 'bank item linked');
    // The first /transactions/sync call also subscribes the item to SYNC_UPDATES_AVAILABLE webhooks.
    await this.trySync(itemId, ctx, bestEffortUntil);
    return { item_id: itemId, institution_id: record.institution_id, institution_name: record.institution_name, created_at: record.created_at, accounts };
  }

  async listAccounts({ user, item_id }: Req<'listAccounts'>, ctx: HandlerContext): Promise<Res<'listAccounts'>> {
    const { items, attention } = await this.readableItemsOf(user, item_id);
    const accounts: PlaidAccount[] = [];
    for (const item of items) accounts.push(...(await this.accountsOf(item, ctx)));
    return { accounts, items_needing_attention: attention };
  }

  async listTransactions(request: Req<'listTransactions'>, ctx: HandlerContext): Promise<Res<'listTransactions'>> {
    if (request.cursor !== undefined && request.offset !== undefined) throw new AppError('VALIDATION_ERROR', 'Send either offset or cursor, not both');
    const offset = request.cursor !== undefined ? decodePageCursor(request.cursor) : (request.offset ?? 0);
    if (request.start_date !== undefined) checkCalendarDate('start_date', request.start_date);
    if (request.end_date !== undefined) checkCalendarDate('end_date', request.end_date);
    if (request.start_date && request.end_date && request.start_date > request.end_date) {
      throw new AppError('VALIDATION_ERROR', 'start_date must not be after end_date');
    }
    const { items, attention } = await this.readableItemsOf(request.user, request.item_id);
    const notReady: string[] = [];
    // With webhooks, a ready item is kept current by them; without, every read asks for the delta.
    const syncOnRead = !this.deps.settings.webhookUrl;
    for (const item of items) {
      if (item.transactions_ready && !syncOnRead) continue;
      // Plaid may have finished the first pull without a webhook reaching us: look once more.
      const outcome = await this.trySync(item.item_id, ctx);
      if (!item.transactions_ready && outcome?.status !== 'ready') notReady.push(item.item_id);
    }
    if (items.length > 0 && notReady.length === items.length) throw notReadyError();
    const ready = items.filter((i) => !notReady.includes(i.item_id)).map((i) => i.item_id);
    const page = await this.deps.store.listTransactions(ready, {
      offset,
      count: request.count,
      ...(request.account_id ? { accountId: request.account_id } : {}),
      ...(request.start_date ? { startDate: request.start_date } : {}),
      ...(request.end_date ? { endDate: request.end_date } : {}),
    });
    const next = offset + page.transactions.length;
    return {
      transactions: page.transactions,
      total: page.total,
      next_cursor: next < page.total && page.transactions.length > 0 ? encodePageCursor(next) : null,
      not_ready_item_ids: notReady,
      items_needing_attention: attention,
    };
  }

  /**
   * Link and first read in one call: waits (bounded) for Plaid's first pull, as Plaid advises. The
   * wait is PLAID_SIGNUP_WAIT_MS, but ends in time to answer before the caller's deadline: a
   * signup that runs out of time answers not_ready (the item is linked), never a timeout.
   */
  async completeSignup({ user, public_token }: Req<'completeSignup'>, ctx: HandlerContext): Promise<Res<'completeSignup'>> {
    const answerBy = ctx.deadline - DEADLINE_MARGIN_MS - SIGNUP_ANSWER_MS;
    const linked = await this.exchangePublicToken({ user, public_token }, ctx, answerBy);
    const item: PlaidItem = {
      item_id: linked.item_id,
      institution_id: linked.institution_id,
      institution_name: linked.institution_name,
      created_at: linked.created_at,
    };
    // Wall-clock time, as the deadline is (deps.now may be a test's clock).
    const waitUntil = Math.min(Date.now() + this.deps.settings.signupWaitMs, answerBy);
    let delay = 250;
    let ready = (await this.deps.store.getItem(item.item_id))?.transactions_ready ?? false;
    while (!ready && Date.now() + delay <= waitUntil) {
      await sleep(delay);
      delay = Math.min(delay * 2, 2_000);
      ready = (await this.trySync(item.item_id, ctx, waitUntil))?.status === 'ready';
    }
    const accounts = linked.accounts.length > 0 ? linked.accounts : await this.accountsAfterLink(item.item_id, ctx);
    if (!ready) {
      ctx.log.info({ item_id: item.item_id }, 'signup: transactions not ready yet');
      return {
        item,
        accounts,
        transactions_status: 'not_ready',
        transactions: [],
        total_transactions: 0,
        next_cursor: null,
        retry_after: NOT_READY_RETRY_AFTER,
        code: 'PLAID_PRODUCT_NOT_READY',
      };
    }
    const page = await this.deps.store.listTransactions([item.item_id], { offset: 0, count: 100 });
    return {
      item,
      accounts,
      transactions_status: 'ready',
      transactions: page.transactions,
      total_transactions: page.total,
      next_cursor: page.transactions.length < page.total ? encodePageCursor(page.transactions.length) : null,
    };
  }

  async removeItem({ user, item_id }: Req<'removeItem'>, ctx: HandlerContext): Promise<Res<'removeItem'>> {
    // An item in error can always be removed.
    const [item] = await this.itemsOf(user, item_id, { evenInError: true });
    try {
      await this.callPlaid((options) => this.deps.plaid.itemRemove({ access_token: this.accessToken(item!) }, options));
    } catch (err) {
      // Gone at Plaid already: finish the job here. Anything else: keep the token so a retry can.
      if (!(err instanceof AppError && err.code === 'PLAID_ITEM_NOT_FOUND')) throw err;
    }
    await this.deps.store.removeItem(item_id);
    ctx.log.info({ user: maskPhoneNumber(user), item_id }, 'bank item removed');
    return { item_id, removed: true };
  }

  async receiveWebhook({ body, verification }: Req<'receiveWebhook'>, ctx: HandlerContext): Promise<Res<'receiveWebhook'>> {
    if (!this.deps.settings.verifyWebhooks) return this.actOnWebhook(body, ctx);
    const verdict = await this.deps.webhooks.verify(body, verification);
    if (verdict.replayed) {
      ctx.log.warn({}, 'replayed webhook ignored (its Plaid-Verification token was already used)');
      return { received: true, action: 'ignored' };
    }
    try {
      return await this.actOnWebhook(body, ctx);
    } catch (err) {
      // Plaid delivers a failed webhook again; that delivery must not be taken for a replay.
      await verdict.release().catch((releaseErr: unknown) => ctx.log.warn({ err: releaseErr }, 'could not release a failed webhook for redelivery'));
      throw err;
    }
  }

  private async actOnWebhook(body: string, ctx: HandlerContext): Promise<Res<'receiveWebhook'>> {
    let event: WebhookEvent;
    try {
      event = JSON.parse(body) as WebhookEvent;
    } catch {
      throw new AppError('INVALID_JSON');
    }
    const log = ctx.log.child({ webhook_type: event.webhook_type, webhook_code: event.webhook_code, item_id: event.item_id });
    if (event.webhook_type === 'ITEM' && typeof event.webhook_code === 'string' && ITEM_WEBHOOKS.has(event.webhook_code)) {
      return this.actOnItemWebhook(event, log);
    }
    if (event.webhook_type !== 'TRANSACTIONS' || typeof event.webhook_code !== 'string' || !TRANSACTION_WEBHOOKS.has(event.webhook_code)) {
      log.info({ error: event.error }, 'webhook received, nothing to do');
      return { received: true, action: 'ignored' };
    }
    const item = typeof event.item_id === 'string' ? await this.deps.store.getItem(event.item_id) : undefined;
    if (!item) {
      log.info({}, 'webhook for an unknown item, ignored');
      return { received: true, action: 'ignored' };
    }
    // Errors propagate: a non-200 makes Plaid deliver the webhook again later.
    const outcome = await this.sync(item);
    log.info({ ...outcome }, 'webhook: transactions synced');
    return { received: true, action: 'synced' };
  }

  /**
   * ITEM webhooks: the item's error (ERROR, USER_PERMISSION_REVOKED, USER_ACCOUNT_REVOKED) or the
   * time it stops working (PENDING_EXPIRATION's consent expiry, PENDING_DISCONNECT's disconnect
   * time, in US/CA) is stored so reads tell the user; LOGIN_REPAIRED clears it.
   */
  private async actOnItemWebhook(event: WebhookEvent, log: HandlerContext['log']): Promise<Res<'receiveWebhook'>> {
    const item = typeof event.item_id === 'string' ? await this.deps.store.getItem(event.item_id) : undefined;
    if (!item) {
      log.info({}, 'webhook for an unknown item, ignored');
      return { received: true, action: 'ignored' };
    }
    const updatedAt = new Date(this.deps.now()).toISOString();
    const errorCode = (event.error as { error_code?: unknown } | null | undefined)?.error_code;
    let health: PlaidItemHealth | null;
    switch (event.webhook_code) {
      case 'LOGIN_REPAIRED':
        health = null;
        break;
      case 'PENDING_EXPIRATION':
      case 'PENDING_DISCONNECT': {
        const endsAt = event.webhook_code === 'PENDING_EXPIRATION' ? event.consent_expiration_time : event.disconnect_time;
        health = {
          error_code: item.health?.error_code ?? null,
          consent_expiration_time: typeof endsAt === 'string' ? endsAt : null,
          updated_at: updatedAt,
        };
        break;
      }
      default:
        health = {
          error_code: typeof event.webhook_code === 'string' && REVOKED_CODES.has(event.webhook_code) ? event.webhook_code : typeof errorCode === 'string' ? errorCode : 'ITEM_ERROR',
          consent_expiration_time: item.health?.consent_expiration_time ?? null,
          updated_at: updatedAt,
        };
    }
    await this.deps.store.setItemHealth(item.item_id, health);
    if (event.webhook_code === 'USER_ACCOUNT_REVOKED' && typeof event.account_id === 'string') {
      // Plaid: delete what was stored of the revoked account; an account listed again means access came back.
      const revoked = event.account_id;
      const accounts = await this.deps.store.getAccounts(item.item_id);
      if (accounts?.some((a) => a.account_id === revoked)) await this.deps.store.saveAccounts(item.item_id, accounts.filter((a) => a.account_id !== revoked));
    }
    log.info({ health, ...(typeof event.account_id === 'string' ? { account_id: event.account_id } : {}) }, 'webhook: item state updated');
    return { received: true, action: 'item_updated' };
  }

  /**
   * Fetches Plaid's changes since the item's stored cursor into the store; an item error Plaid
   * answers is kept on the item. Every page is asked for within PLAID_TIMEOUT_MS, `until` and the
   * bus caller's deadline: a loop cut short stores nothing (the next sync starts it again).
   */
  async sync(item: PlaidItemRecord, until?: number): Promise<SyncOutcome> {
    const accessToken = this.accessToken(item);
    const health = item.health;
    const accountsBefore = health?.error_code === 'USER_ACCOUNT_REVOKED' ? new Set(((await this.deps.store.getAccounts(item.item_id)) ?? []).map((a) => a.account_id)) : undefined;
    try {
      const outcome = await syncTransactions(this.deps.store, item, (cursor) =>
        this.deps.plaid
          .transactionsSync({ access_token: accessToken, count: SYNC_PAGE_SIZE, ...(cursor ? { cursor } : {}) }, plaidCallOptions(this.deps.settings.timeoutMs, until))
          .then((r) => r.data),
      );
      // Plaid synced it: the item's error is gone (repaired in update mode, say). An account revoked
      // at the bank does not stop a sync: that one is gone once the sync brought an account back.
      const repaired = accountsBefore ? ((await this.deps.store.getAccounts(item.item_id)) ?? []).some((a) => !accountsBefore.has(a.account_id)) : true;
      if (health?.error_code && repaired) await this.deps.store.setItemHealth(item.item_id, healthWithoutError(health, this.deps.now()));
      return outcome;
    } catch (err) {
      const code = plaidErrorOf(err)?.error_code;
      if (code === 'ITEM_LOGIN_REQUIRED' || code === 'USER_PERMISSION_REVOKED') {
        await this.deps.store.setItemHealth(item.item_id, { error_code: code, consent_expiration_time: item.health?.consent_expiration_time ?? null, updated_at: new Date(this.deps.now()).toISOString() });
      }
      throw mapPlaidError(err);
    }
  }

  /** A sync whose failure is logged, not thrown: for reads that can do without it. */
  private async trySync(itemId: string, ctx: HandlerContext, until?: number): Promise<SyncOutcome | undefined> {
    try {
      const item = await this.deps.store.getItem(itemId);
      return item ? await this.sync(item, until) : undefined;
    } catch (err) {
      ctx.log.warn({ err, item_id: itemId }, 'transactions sync failed');
      return undefined;
    }
  }

  /** The items a read covers, and what the user must do about the user's others (see itemsOf). */
  private async readableItemsOf(user: string, itemId: string | undefined): Promise<{ items: PlaidItemRecord[]; attention: ItemAttention[] }> {
    if (itemId !== undefined) {
      const items = await this.itemsOf(user, itemId);
      return { items, attention: items.flatMap((item) => attentionOf(item, this.deps.now())) };
    }
    const all = await this.userItems(user);
    return { items: healthyOf(all), attention: all.flatMap((item) => attentionOf(item, this.deps.now())) };
  }

  /**
   * The user's items, or the one asked for; another user's item is answered exactly like a missing
   * one. An item in error (ITEM webhooks, or a failed sync) is asked about again at Plaid at most
   * once a minute (see recheck), and refused while it stays in error with a code that says what the
   * user must do; of all the user's items, those in error are left out, unless every one is.
   */
  private async itemsOf(user: string, itemId: string | undefined, options: { evenInError?: boolean } = {}): Promise<PlaidItemRecord[]> {
    if (itemId === undefined) return healthyOf(await this.userItems(user));
    const stored = await this.deps.store.getItem(itemId);
    if (!stored || stored.user !== user) throw new AppError('PLAID_ITEM_NOT_FOUND');
    if (options.evenInError) return [stored];
    const item = await this.recheck(stored);
    if (item.health?.error_code) throw itemError(item);
    return [item];
  }

  /** All the user's items, those in error re-checked (see recheck). */
  private async userItems(user: string): Promise<PlaidItemRecord[]> {
    const items: PlaidItemRecord[] = [];
    for (const item of await this.deps.store.listItems(user)) items.push(await this.recheck(item));
    return items;
  }

  /**
   * An item in error as Plaid sees it now, if it was last looked at a minute ago or more: a repair
   * through Link's update mode comes with no webhook (LOGIN_REPAIRED is only sent for repairs made
   * elsewhere), so without asking, an item would stay refused forever. `/item/get` says whether
   * the item still has an error; for an account revoked at the bank, `/accounts/get` must list
   * every account stored for it again. Either way the answer is stored, so the next check waits a
   * minute; when Plaid cannot be asked, the item stays as it was.
   */
  private async recheck(item: PlaidItemRecord): Promise<PlaidItemRecord> {
    const health = item.health;
    if (!health?.error_code) return item;
    const now = this.deps.now();
    if (now - Date.parse(health.updated_at) < RECHECK_INTERVAL_MS) return item;
    const accessToken = this.accessToken(item);
    let next: PlaidItemHealth | null;
    try {
      const { item: atPlaid } = await this.callPlaid((options) => this.deps.plaid.itemGet({ access_token: accessToken }, options));
      const consent = atPlaid.consent_expiration_time ?? null;
      let errorCode = atPlaid.error?.error_code ?? null;
      if (errorCode === null && health.error_code === 'USER_ACCOUNT_REVOKED' && !(await this.accountRegranted(item, accessToken))) errorCode = 'USER_ACCOUNT_REVOKED';
      next = errorCode === null ? healthWithoutError({ ...health, consent_expiration_time: consent }, now) : { error_code: errorCode, consent_expiration_time: consent, updated_at: new Date(now).toISOString() };
    } catch {
      // Plaid did not say (not answering, or the item is gone there): as it was, asked again in a minute.
      next = { ...health, updated_at: new Date(now).toISOString() };
    }
    await this.deps.store.setItemHealth(item.item_id, next);
    return { ...item, health: next };
  }

  /**
   * Whether Plaid lists an account we do not store: the revoked account was dropped from the store
   * when its USER_ACCOUNT_REVOKED came (syncs keep the stored accounts to what Plaid lists), so one
   * listed again means access was granted again. Stores what Plaid lists when it does.
   */
  private async accountRegranted(item: PlaidItemRecord, accessToken: string): Promise<boolean> {
    const stored = new Set(((await this.deps.store.getAccounts(item.item_id)) ?? []).map((a) => a.account_id));
    const { accounts } = await this.callPlaid((options) => this.deps.plaid.accountsGet({ access_token: accessToken }, options));
    if (accounts.every((a) => stored.has(a.account_id))) return false;
    await this.deps.store.saveAccounts(item.item_id, accounts.map((a) => toAccount(a, item.item_id)));
    return true;
  }

  private async accountsOf(item: PlaidItemRecord, ctx: HandlerContext): Promise<PlaidAccount[]> {
    const cached = await this.deps.store.getAccounts(item.item_id);
    if (cached && cached.length > 0) return cached;
    const data = await this.callPlaid((options) => this.deps.plaid.accountsGet({ access_token: this.accessToken(item) }, options));
    const accounts = data.accounts.map((a) => toAccount(a, item.item_id));
    await this.deps.store.saveAccounts(item.item_id, accounts);
    ctx.log.info({ item_id: item.item_id, accounts: accounts.length }, 'accounts fetched from Plaid');
    return accounts;
  }

  /** The accounts of an item just linked whose accounts Plaid did not give at the exchange; none (GET /accounts retries) if it cannot now. */
  private async accountsAfterLink(itemId: string, ctx: HandlerContext): Promise<PlaidAccount[]> {
    try {
      const item = await this.deps.store.getItem(itemId);
      return item ? await this.accountsOf(item, ctx) : [];
    } catch (err) {
      // The item is linked: answering an error now would make the client retry signup with a spent public token.
      ctx.log.warn({ err, item_id: itemId }, 'signup: accounts not fetched; GET /accounts will retry');
      return [];
    }
  }

  /** One Plaid call, within PLAID_TIMEOUT_MS, `until` and the bus caller's deadline. */
  private callPlaid<T>(call: (options: PlaidCallOptions) => Promise<{ data: T }>, until?: number): Promise<T> {
    return callPlaid({ timeoutMs: this.deps.settings.timeoutMs, until, metrics: this.deps.metrics }, call);
  }

  private accessToken(item: PlaidItemRecord): string {
    try {
      return this.deps.cipher.decrypt(item.access_token_ciphertext, item.item_id);
    } catch (err) {
      // Wrong PLAID_TOKEN_ENCRYPTION_KEY, or a tampered record: an operator problem, not the client's.
      throw new AppError('INTERNAL', undefined, { cause: new Error(`cannot decrypt the access token of item ${item.item_id}: ${(err as Error).message}`) });
    }
  }

  /** Plaid asks for a stable user id that is not PII: a keyed hash of the phone number. */
  private clientUserId(user: string): string {
    return createHmac('sha256', this.deps.settings.tokenEncryptionKey).update(`plaid-client-user-id:${user}`).digest('hex').slice(0, 32);
  }
}

/** The items not in error; refuses, with the first one's error, when all of them are. */
function healthyOf(items: PlaidItemRecord[]): PlaidItemRecord[] {
  const healthy = items.filter((i) => !i.health?.error_code);
  if (items.length > 0 && healthy.length === 0) throw itemError(items[0]!);
  return healthy;
}

/** An item's health once its error is gone: only a coming consent end (if any) is left. */
function healthWithoutError(health: PlaidItemHealth, now: number): PlaidItemHealth | null {
  return health.consent_expiration_time ? { error_code: null, consent_expiration_time: health.consent_expiration_time, updated_at: new Date(now).toISOString() } : null;
}

/** What the user must do about an item: nothing, log in again, link it again, or renew consent. */
function attentionOf(item: PlaidItemRecord, now: number): ItemAttention[] {
  const health = item.health;
  if (!health) return [];
  const base = { item_id: item.item_id, institution_name: item.institution_name, consent_expiration_time: health.consent_expiration_time };
  if (health.error_code) {
    const reason = REVOKED_CODES.has(health.error_code) ? 'access_revoked' : 'login_required';
    return [{ ...base, reason, message: itemError(item).message }];
  }
  if (health.consent_expiration_time && Date.parse(health.consent_expiration_time) > now) {
    const bank = item.institution_name ?? 'the bank';
    return [{ ...base, reason: 'consent_expiring', message: `The link to ${bank} (item ${item.item_id}) stops working at ${health.consent_expiration_time} (the user's consent ends, or the bank moves to a new connection); renew it through Plaid Link in update mode` }];
  }
  return [];
}

/** What a read of an item in error answers: the code says what the user must do, the message which bank. */
function itemError(item: PlaidItemRecord): AppError {
  const bank = item.institution_name ?? 'the bank';
  const code = item.health?.error_code;
  if (code === 'USER_PERMISSION_REVOKED') {
    return new AppError('PLAID_ITEM_ACCESS_REVOKED', `Access to ${bank} (item ${item.item_id}) was revoked by the user at the bank; link it again`);
  }
  if (code === 'USER_ACCOUNT_REVOKED') {
    return new AppError('PLAID_ITEM_ACCESS_REVOKED', `Access to an account at ${bank} (item ${item.item_id}) was revoked by the user at the bank; grant it again through Plaid Link in update mode, or link the bank again`);
  }
  return new AppError('PLAID_ITEM_LOGIN_REQUIRED', `${bank} (item ${item.item_id}) needs the user to log in again through Plaid Link in update mode (Plaid: ${code ?? 'ITEM_ERROR'})`);
}

function notReadyError(): AppError {
  return new AppError('PLAID_PRODUCT_NOT_READY', 'Plaid is still fetching the first transactions of this bank link; retry after the Retry-After seconds', {
    retryAfter: NOT_READY_RETRY_AFTER,
  });
}

/** YYYY-MM-DD that names a real day (the schema lets 2024-02-31 through). */
function checkCalendarDate(name: string, value: string): void {
  const parsed = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== value) {
    throw new AppError('VALIDATION_ERROR', `${name} is not a calendar date (YYYY-MM-DD)`);
  }
}

/** An opaque page token for GET /transactions (today an offset; clients must not rely on that). */
function encodePageCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset }), 'utf8').toString('base64url');
}

function decodePageCursor(cursor: string): number {
  try {
    const { o } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof o === 'number' && Number.isInteger(o) && o >= 0) return o;
  } catch {
    // fall through
  }
  throw new AppError('VALIDATION_ERROR', 'cursor is not a next_cursor value from this API');
}
