/** The Plaid API endpoints the emulator serves, as named in Plaid's OpenAPI file. */
export const SPEC_ENDPOINTS = [
  '/link/token/create',
  '/sandbox/public_token/create',
  '/item/public_token/exchange',
  '/item/get',
  '/accounts/get',
  '/transactions/sync',
  '/item/remove',
  '/webhook_verification_key/get',
  '/sandbox/item/fire_webhook',
  '/sandbox/item/reset_login',
] as const;

export type SpecEndpoint = (typeof SPEC_ENDPOINTS)[number];

/** The webhooks the emulator sends, `<webhook_type>/<webhook_code>` to the spec's schema of their body. */
export const SPEC_WEBHOOKS = {
  'TRANSACTIONS/SYNC_UPDATES_AVAILABLE': 'SyncUpdatesAvailableWebhook',
  'TRANSACTIONS/DEFAULT_UPDATE': 'DefaultUpdateWebhook',
  'ITEM/NEW_ACCOUNTS_AVAILABLE': 'NewAccountsAvailableWebhook',
  'ITEM/LOGIN_REPAIRED': 'ItemLoginRepairedWebhook',
  'ITEM/ERROR': 'ItemErrorWebhook',
  'ITEM/PENDING_EXPIRATION': 'PendingExpirationWebhook',
  'ITEM/USER_PERMISSION_REVOKED': 'UserPermissionRevokedWebhook',
  'ITEM/PENDING_DISCONNECT': 'PendingDisconnectWebhook',
  'ITEM/USER_ACCOUNT_REVOKED': 'UserAccountRevokedWebhook',
} as const;
