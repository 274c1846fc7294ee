export { buildPlaidEmulator, PLAID_EMULATOR_DEFAULT_CLIENT_ID, PLAID_EMULATOR_DEFAULT_SECRET, type PlaidEmulator, type PlaidEmulatorOptions } from './app.ts';
export { startPlaidEmulator, type StartedPlaidEmulator } from './start.ts';
export type { PlaidErrorObject } from './plaid-error.ts';
export type { WebhookDelivery, WebhookPayload, WebhookVerificationKey } from './webhooks.ts';
