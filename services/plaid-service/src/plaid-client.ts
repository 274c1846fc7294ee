import { Configuration, PlaidEnvironments } from 'plaid/dist/configuration.js';
import { handlerDeadline } from '@repo/bus';
import { AppError } from '@repo/contracts';
import type { UpstreamMetrics } from '@repo/telemetry';
import type { PlaidSettings } from './config.ts';
import { plaidEndpoints, type PlaidEndpoints } from './plaid-endpoints.ts';
import { mapPlaidError } from './plaid-errors.ts';

/** The real Plaid SDK (the endpoints this service calls), pointed at Plaid (sandbox/production) or at an emulator's base URL. */
export function createPlaidClient(settings: PlaidSettings): PlaidEndpoints {
  const basePath = settings.baseUrl ?? PlaidEnvironments[settings.env];
  if (!basePath) throw new Error(`No Plaid base URL for PLAID_ENV=${settings.env}`);
  return plaidEndpoints(
    new Configuration({
      basePath,
      baseOptions: {
        headers: { 'PLAID-CLIENT-ID': settings.clientId, 'PLAID-SECRET': settings.secret },
        timeout: settings.timeoutMs,
      },
    }),
  );
}

/** The per-call options of the SDK (axios's) that bound a call's time. */
export interface PlaidCallOptions {
  timeout: number;
  signal: AbortSignal;
}

/**
 * How long one Plaid call may take: PLAID_TIMEOUT_MS, but never past `until` (epoch ms) or the
 * deadline of the bus request being handled, so an answer still reaches someone who waits for it.
 * axios's `timeout` only watches for a silent socket; the signal ends the call however it drags.
 */
export function plaidCallOptions(timeoutMs: number, until?: number): PlaidCallOptions {
  const left = Math.min(until ?? Infinity, handlerDeadline() ?? Infinity) - Date.now();
  if (left <= 0) throw new AppError('PLAID_UNAVAILABLE', 'No time is left to call Plaid before the caller gives up', { retryAfter: 5 });
  const ms = Math.min(timeoutMs, Math.ceil(left));
  return { timeout: ms, signal: AbortSignal.timeout(ms) };
}

/**
 * Runs one SDK call within its time (see plaidCallOptions); returns its body, or throws the failure
 * as an AppError (see mapPlaidError). Timed into `metrics`, the operation being the API path the SDK
 * called (e.g. /item/get), the outcome "ok" or our error code.
 */
export async function callPlaid<T>(
  limit: { timeoutMs: number; until?: number; metrics?: UpstreamMetrics | undefined },
  call: (options: PlaidCallOptions) => Promise<{ data: T; config?: { url?: string | undefined } }>,
): Promise<T> {
  const started = performance.now();
  try {
    const response = await call(plaidCallOptions(limit.timeoutMs, limit.until));
    limit.metrics?.record(operationOf(response.config?.url), 'ok', (performance.now() - started) / 1000);
    return response.data;
  } catch (err) {
    const mapped = mapPlaidError(err);
    limit.metrics?.record(operationOf((err as { config?: { url?: string } } | undefined)?.config?.url), mapped.code, (performance.now() - started) / 1000);
    throw mapped;
  }
}

/** The API path of an SDK request's URL (the SDK's endpoints: a fixed set), or "unknown" (no request made). */
function operationOf(url: string | undefined): string {
  if (!url) return 'unknown';
  try {
    return new URL(url, 'http://plaid.invalid').pathname;
  } catch {
    return 'unknown';
  }
}
