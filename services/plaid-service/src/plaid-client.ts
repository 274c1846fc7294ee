import { Configuration, PlaidApi, PlaidEnvironments } from 'plaid';
import type { PlaidSettings } from './config.ts';
import { mapPlaidError } from './plaid-errors.ts';

/** The real Plaid SDK, pointed at Plaid (sandbox/production) or at an emulator's base URL. */
export function createPlaidClient(settings: PlaidSettings): PlaidApi {
  const basePath = settings.baseUrl ?? PlaidEnvironments[settings.env];
  if (!basePath) throw new Error(`No Plaid base URL for PLAID_ENV=${settings.env}`);
  return new PlaidApi(
    new Configuration({
      basePath,
      baseOptions: {
        headers: { 'PLAID-CLIENT-ID': settings.clientId, 'PLAID-SECRET': settings.secret },
        timeout: settings.timeoutMs,
      },
    }),
  );
}

/** Runs one SDK call; returns its body, or throws the failure as an AppError (see mapPlaidError). */
export async function callPlaid<T>(call: () => Promise<{ data: T }>): Promise<T> {
  try {
    return (await call()).data;
  } catch (err) {
    throw mapPlaidError(err);
  }
}
