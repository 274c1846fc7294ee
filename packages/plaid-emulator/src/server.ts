/** Standalone entry: `tsx src/server.ts`, configured by PLAID_EMULATOR_* variables. */
import { startPlaidEmulator } from './start.ts';

function integerEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} is invalid: expected an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function credentialsEnv(): { clientId: string; secret: string } | Record<string, never> {
  const clientId = process.env['PLAID_EMULATOR_CLIENT_ID'] || undefined;
  const secret = process.env['PLAID_EMULATOR_SECRET'] || undefined;
  if (clientId === undefined && secret === undefined) return {};
  if (clientId === undefined || secret === undefined) throw new Error('PLAID_EMULATOR_CLIENT_ID and PLAID_EMULATOR_SECRET must be set together');
  return { clientId, secret };
}

async function main(): Promise<void> {
  const webhookUrl = process.env['PLAID_EMULATOR_WEBHOOK_URL'] || undefined;
  const emulator = await startPlaidEmulator({
    host: process.env['PLAID_EMULATOR_HOST'] || '127.0.0.1',
    port: integerEnv('PLAID_EMULATOR_PORT', 3011, 0, 65535),
    productNotReadyMs: integerEnv('PLAID_EMULATOR_NOT_READY_MS', 3000, 0, 600_000),
    transactionsPerItem: integerEnv('PLAID_EMULATOR_TRANSACTIONS_PER_ITEM', 300, 1, 10_000),
    ...credentialsEnv(),
    ...(webhookUrl ? { webhookUrl } : {}),
  });
  console.log(`Plaid emulator listening at ${emulator.url}`);

  const shutdown = () => {
    emulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
