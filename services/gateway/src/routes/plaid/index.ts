import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  AccountsQuery,
  AccountsReply,
  ExchangePublicTokenReply,
  ItemParams,
  LinkTokenBody,
  LinkTokenReply,
  PlaidSubjects,
  PlaidWebhookBody,
  PlaidWebhookHeaders,
  PublicTokenBody,
  RemoveItemReply,
  SandboxPublicTokenBody,
  SandboxPublicTokenReply,
  SignupReply,
  TRANSACTIONS_DEFAULT_COUNT,
  TransactionsQuery,
  TransactionsReply,
  WebhookReply,
  type ErrorCode,
} from '@repo/contracts';
import type { FastifyRequest } from 'fastify';
import { busOptions } from '../../http/trace.ts';
import { ACCESS, BODY, LIMITED, PLAID, errorResponses } from '../../http/api-doc.ts';

const ITEM_STATE: ErrorCode[] = ['PLAID_ITEM_NOT_FOUND', 'PLAID_ITEM_LOGIN_REQUIRED', 'PLAID_ITEM_ACCESS_REVOKED'];
const bearer = [{ bearerAuth: [] }];
const tags = ['plaid'];

/** The client's routes: each needs an access token (one onRequest hook for all) and acts for its phone number. */
const bankRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  // Every route gets the configured budget (BUS_TIMEOUT_MS), not more: plaid-service keeps its Plaid
  // calls and signup's wait within the deadline that travels with the request, so a client gets an
  // answer in that time. Reads may be sent twice: the bus's short first attempt (as for every
  // idempotent request), then one more with what is left, so a replica that died costs one short
  // attempt. The first attempt's deadline bounds the read's own Plaid calls too: a slow Plaid makes
  // it answer from the store (or 503 PLAID_UNAVAILABLE) in time, rather than being sent again.
  const budgetMs = app.gatewaySettings.BUS_TIMEOUT_MS;
  const opts = (request: FastifyRequest) => ({ ...busOptions(request), timeoutMs: budgetMs });
  const readOpts = (request: FastifyRequest) => ({ ...opts(request), idempotent: true });

  app.post(
    '/link-token',
    {
      // Usually sent without a body (a new bank); `{item_id}` for update mode.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags,
        operationId: 'createLinkToken',
        summary: 'Create a Plaid Link token to open Link with: for a new bank, or with item_id for update mode (repair a linked one)',
        security: bearer,
        'x-body-optional': true,
        body: LinkTokenBody,
        response: { 200: LinkTokenReply, ...errorResponses(LIMITED, ACCESS, BODY, PLAID, ['PLAID_ITEM_NOT_FOUND']) },
      },
    },
    async (request) =>
      app.bus.request(PlaidSubjects.createLinkToken, { user: request.user.sub, ...(request.body.item_id ? { item_id: request.body.item_id } : {}) }, opts(request)),
  );

  app.post(
    '/exchange-public-token',
    {
      schema: {
        tags,
        operationId: 'exchangePublicToken',
        summary: "Link a bank: trade Link's public token for a stored item (the access token stays server-side)",
        security: bearer,
        body: PublicTokenBody,
        response: { 200: ExchangePublicTokenReply, ...errorResponses(LIMITED, ACCESS, BODY, PLAID, ['PLAID_INVALID_PUBLIC_TOKEN']) },
      },
    },
    async (request) =>
      app.bus.request(PlaidSubjects.exchangePublicToken, { user: request.user.sub, public_token: request.body.public_token }, opts(request)),
  );

  app.get(
    '/accounts',
    {
      schema: {
        tags,
        operationId: 'listAccounts',
        summary: 'Accounts of all linked banks (or of one item)',
        security: bearer,
        querystring: AccountsQuery,
        response: { 200: AccountsReply, ...errorResponses(LIMITED, ACCESS, ['VALIDATION_ERROR'], PLAID, ITEM_STATE) },
      },
    },
    async (request) =>
      app.bus.request(PlaidSubjects.listAccounts, { user: request.user.sub, ...(request.query.item_id ? { item_id: request.query.item_id } : {}) }, readOpts(request)),
  );

  app.get(
    '/transactions',
    {
      schema: {
        tags,
        operationId: 'listTransactions',
        summary: 'Synced transactions, newest first; filter by dates, item or account; page with count+offset or cursor',
        description: 'Answers 409 PLAID_PRODUCT_NOT_READY with Retry-After while Plaid is still pulling the first transactions of every item asked for.',
        security: bearer,
        querystring: TransactionsQuery,
        response: { 200: TransactionsReply, ...errorResponses(LIMITED, ACCESS, ['VALIDATION_ERROR', 'PLAID_PRODUCT_NOT_READY'], PLAID, ITEM_STATE) },
      },
    },
    async (request) => {
      const q = request.query;
      return app.bus.request(
        PlaidSubjects.listTransactions,
        {
          user: request.user.sub,
          count: q.count ?? TRANSACTIONS_DEFAULT_COUNT,
          ...(q.item_id ? { item_id: q.item_id } : {}),
          ...(q.account_id ? { account_id: q.account_id } : {}),
          ...(q.start_date ? { start_date: q.start_date } : {}),
          ...(q.end_date ? { end_date: q.end_date } : {}),
          ...(q.offset !== undefined ? { offset: q.offset } : {}),
          ...(q.cursor ? { cursor: q.cursor } : {}),
        },
        readOpts(request),
      );
    },
  );

  app.post(
    '/signup',
    {
      schema: {
        tags,
        operationId: 'signup',
        summary: 'Link a bank and read its accounts and first transactions in one call',
        description:
          'Waits a few seconds for Plaid\'s first pull. If it is still running, answers 202 with transactions_status "not_ready", code PLAID_PRODUCT_NOT_READY and Retry-After: the item is linked; read GET /api/plaid/transactions after that delay.',
        security: bearer,
        body: PublicTokenBody,
        response: {
          200: SignupReply,
          202: { ...SignupReply, description: 'Linked; Plaid is still pulling the first transactions (see Retry-After)' },
          ...errorResponses(LIMITED, ACCESS, BODY, PLAID, ['PLAID_INVALID_PUBLIC_TOKEN']),
        },
      },
    },
    async (request, reply) => {
      const result = await app.bus.request(
        PlaidSubjects.completeSignup,
        { user: request.user.sub, public_token: request.body.public_token },
        opts(request),
      );
      if (result.transactions_status === 'not_ready') {
        reply.status(202);
        if (result.retry_after !== undefined) reply.header('retry-after', String(result.retry_after));
      }
      return result;
    },
  );

  app.delete(
    '/items/:item_id',
    {
      schema: {
        tags,
        operationId: 'removeItem',
        summary: 'Unlink a bank (Plaid /item/remove) and delete its stored data',
        security: bearer,
        params: ItemParams,
        response: { 200: RemoveItemReply, ...errorResponses(LIMITED, ACCESS, ['VALIDATION_ERROR', 'PLAID_ITEM_NOT_FOUND'], PLAID) },
      },
    },
    async (request) =>
      app.bus.request(PlaidSubjects.removeItem, { user: request.user.sub, item_id: request.params.item_id }, opts(request)),
  );

  app.post(
    '/sandbox/public-token',
    {
      // Usually sent without a body.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags,
        operationId: 'createSandboxPublicToken',
        summary: 'Sandbox/emulator only: a public token without Plaid Link (403 PLAID_SANDBOX_ONLY in production)',
        security: bearer,
        'x-body-optional': true,
        body: SandboxPublicTokenBody,
        response: { 200: SandboxPublicTokenReply, ...errorResponses(LIMITED, ACCESS, BODY, PLAID, ['PLAID_SANDBOX_ONLY']) },
      },
    },
    async (request) =>
      app.bus.request(
        PlaidSubjects.createSandboxPublicToken,
        { user: request.user.sub, ...(request.body.institution_id ? { institution_id: request.body.institution_id } : {}) },
        opts(request),
      ),
  );

};

/** Plaid's webhook: no token, verified by its Plaid-Verification JWT in plaid-service. */
const webhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const opts = (request: FastifyRequest) => ({ ...busOptions(request), timeoutMs: app.gatewaySettings.BUS_TIMEOUT_MS });
  // Plaid signs a hash of the exact bytes it sent, so this route keeps its body as a string.
  await app.register(async (webhook) => {
    webhook.removeAllContentTypeParsers();
    webhook.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string' }, (_request, body, done) => done(null, body));
    webhook.post(
      '/webhook',
      {
        schema: {
          tags,
          operationId: 'receivePlaidWebhook',
          summary: "Plaid's webhook (SYNC_UPDATES_AVAILABLE re-syncs the item); verified by its Plaid-Verification JWT",
          description: 'Called by Plaid, not by clients. The body is kept byte for byte: its SHA-256 is checked against the signed Plaid-Verification JWT.',
          security: [],
          headers: PlaidWebhookHeaders,
          // Documented only (the document's requestBody, see swagger.ts): the route reads the body as a string.
          'x-webhook-body': PlaidWebhookBody,
          response: { 200: WebhookReply, ...errorResponses(LIMITED, ['WEBHOOK_VERIFICATION_FAILED', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE', 'VALIDATION_ERROR']) },
        },
      },
      async (request) => {
        const header = request.headers['plaid-verification'];
        await webhook.bus.request(
          PlaidSubjects.receiveWebhook,
          { body: typeof request.body === 'string' ? request.body : '', ...(typeof header === 'string' ? { verification: header } : {}) },
          opts(request),
        );
        return { received: true as const };
      },
    );
  });
};

/**
 * Bank linking through Plaid. Every route but the webhook acts for the token's phone number only;
 * plaid-service keeps the Plaid access tokens, so none of these answers can carry one.
 */
const plaidRoutes: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(bankRoutes);
  await app.register(webhookRoutes);
};

export default plaidRoutes;
