/** Standalone entry: `tsx src/server.ts`, configured by PLAID_EMULATOR_* variables. */
import { Type } from '@sinclair/typebox';
import { ConfigError, Port, runStandalone } from '@repo/runtime';
import { startPlaidEmulator } from './start.ts';

const Env = Type.Object({
  PLAID_EMULATOR_HOST: Type.String({ default: '127.0.0.1', description: 'interface to listen on' }),
  PLAID_EMULATOR_PORT: Port(3011),
  PLAID_EMULATOR_CLIENT_ID: Type.Optional(Type.String({ description: 'client_id it accepts (default emulator-client-id)' })),
  PLAID_EMULATOR_SECRET: Type.Optional(Type.String({ description: 'secret it accepts (default emulator-secret)' })),
  PLAID_EMULATOR_NOT_READY_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 3_000, description: 'ms after a link during which /transactions/sync answers NOT_READY' }),
  PLAID_EMULATOR_HISTORICAL_UPDATE_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 0, description: 'ms after the initial update (last 30 days) until the historical one (the rest)' }),
  PLAID_EMULATOR_DEFAULT_DAYS_REQUESTED: Type.Integer({ minimum: 1, maximum: 730, default: 90, description: 'days of history of items linked without days_requested' }),
  PLAID_EMULATOR_TRANSACTIONS_PER_ITEM: Type.Integer({ minimum: 1, maximum: 10_000, default: 300, description: 'transactions in each item' }),
  PLAID_EMULATOR_WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'webhook URL of items linked without one' })),
});

await runStandalone(
  'plaid-emulator',
  Env,
  (env) =>
    startPlaidEmulator({
      host: env.PLAID_EMULATOR_HOST,
      port: env.PLAID_EMULATOR_PORT,
      productNotReadyMs: env.PLAID_EMULATOR_NOT_READY_MS,
      historicalUpdateMs: env.PLAID_EMULATOR_HISTORICAL_UPDATE_MS,
      defaultDaysRequested: env.PLAID_EMULATOR_DEFAULT_DAYS_REQUESTED,
      transactionsPerItem: env.PLAID_EMULATOR_TRANSACTIONS_PER_ITEM,
      ...(env.PLAID_EMULATOR_CLIENT_ID && env.PLAID_EMULATOR_SECRET ? { clientId: env.PLAID_EMULATOR_CLIENT_ID, secret: env.PLAID_EMULATOR_SECRET } : {}),
      ...(env.PLAID_EMULATOR_WEBHOOK_URL ? { webhookUrl: env.PLAID_EMULATOR_WEBHOOK_URL } : {}),
    }),
  (emulator) => `Plaid emulator listening at ${emulator.url}`,
  (env) => {
    if ((env.PLAID_EMULATOR_CLIENT_ID === undefined) !== (env.PLAID_EMULATOR_SECRET === undefined)) {
      throw new ConfigError('PLAID_EMULATOR_CLIENT_ID and PLAID_EMULATOR_SECRET must be set together');
    }
  },
);
