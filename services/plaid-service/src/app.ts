import type { FastifyBaseLogger } from 'fastify';
import { handle, type Bus } from '@repo/bus';
import { PlaidSubjects } from '@repo/contracts';
import { buildBusService } from '@repo/runtime';
import { upstreamMetrics, type MetricsSetup } from '@repo/telemetry';
import type { PlaidStore, WebhookReplayStore } from '@repo/stores';
import type { PlaidSettings } from './config.ts';
import { LinkedBanks } from './linked-banks.ts';
import { callPlaid, createPlaidClient } from './plaid-client.ts';
import type { PlaidEndpoints } from './plaid-endpoints.ts';
import { TokenCipher } from './token-cipher.ts';
import { WebhookVerifier } from './webhook-verifier.ts';

export interface PlaidServiceDeps {
  settings: PlaidSettings;
  bus: Bus;
  store: PlaidStore;
  /** Verified webhook tokens, so a replay is ignored; Redis when there are several replicas. */
  webhookReplays: WebhookReplayStore;
  logger?: FastifyBaseLogger;
  /** Defaults to the real plaid SDK built from settings. */
  plaid?: PlaidEndpoints;
  now?: () => number;
  /** Plaid call durations, HTTP durations and GET /metrics. */
  metrics?: MetricsSetup;
}

export const SERVICE_NAME = 'plaid-service';

/**
 * plaid-service: answers `plaid.*` on the bus; HTTP only for health checks and metrics. Plaid access tokens
 * live here only, encrypted in the store, and leave only towards Plaid.
 */
export async function buildPlaidService(deps: PlaidServiceDeps) {
  if (deps.settings.usesEmulator && !deps.settings.baseUrl && !deps.plaid) {
    throw new Error('plaid-service: no Plaid credentials and no emulator URL; start an emulator and set settings.baseUrl');
  }
  const plaid = deps.plaid ?? createPlaidClient(deps.settings);
  const now = deps.now ?? Date.now;
  const upstream = deps.metrics && upstreamMetrics(deps.metrics.registry, 'plaid');
  const webhooks = new WebhookVerifier(async (kid) => (await callPlaid({ timeoutMs: deps.settings.timeoutMs, metrics: upstream }, (options) => plaid.webhookVerificationKeyGet({ key_id: kid }, options))).key, {
    replays: deps.webhookReplays,
    now,
  });
  const banks = new LinkedBanks({ settings: deps.settings, plaid, store: deps.store, cipher: new TokenCipher(deps.settings.tokenEncryptionKey), webhooks, now, metrics: upstream });
  return buildBusService({
    name: SERVICE_NAME,
    bus: deps.bus,
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    readiness: [() => deps.store.ping()],
    handlers: [
      handle(PlaidSubjects.createLinkToken, (req) => banks.createLinkToken(req)),
      handle(PlaidSubjects.createSandboxPublicToken, (req) => banks.createSandboxPublicToken(req)),
      handle(PlaidSubjects.exchangePublicToken, (req, ctx) => banks.exchangePublicToken(req, ctx)),
      handle(PlaidSubjects.listAccounts, (req, ctx) => banks.listAccounts(req, ctx)),
      handle(PlaidSubjects.listTransactions, (req, ctx) => banks.listTransactions(req, ctx)),
      handle(PlaidSubjects.completeSignup, (req, ctx) => banks.completeSignup(req, ctx)),
      handle(PlaidSubjects.removeItem, (req, ctx) => banks.removeItem(req, ctx)),
      handle(PlaidSubjects.receiveWebhook, (req, ctx) => banks.receiveWebhook(req, ctx)),
    ],
  });
}

export {
  EMULATOR_CREDENTIALS,
  PlaidEnv,
  PlaidServiceEnv,
  parseTokenEncryptionKey,
  resolvePlaidSettings,
  type PlaidEnvConfig,
  type PlaidSettings,
} from './config.ts';
export { mapPlaidError } from './plaid-errors.ts';
