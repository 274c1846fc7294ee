import { AppError } from '@repo/contracts';

/** Plaid's error object, the body of every non-2xx answer. */
export interface PlaidErrorBody {
  error_type: string;
  error_code: string;
  error_message?: string;
  display_message?: string | null;
  request_id?: string;
}

/** The Plaid error object of an SDK (axios) failure, or undefined when Plaid did not answer with one. */
export function plaidErrorOf(err: unknown): PlaidErrorBody | undefined {
  const data = (err as { response?: { data?: unknown } } | undefined)?.response?.data as Partial<PlaidErrorBody> | undefined;
  return data && typeof data.error_code === 'string' && typeof data.error_type === 'string' ? (data as PlaidErrorBody) : undefined;
}

function httpStatusOf(err: unknown): number | undefined {
  const status = (err as { response?: { status?: unknown } } | undefined)?.response?.status;
  return typeof status === 'number' ? status : undefined;
}

// Our credentials or setup are wrong: nothing the client can fix, so a 502 (and a log line).
const CONFIGURATION_CODES = new Set(['INVALID_API_KEYS', 'UNAUTHORIZED_ENVIRONMENT', 'INVALID_PRODUCT', 'PRODUCTS_NOT_SUPPORTED', 'INVALID_WEBHOOK_VERIFICATION_KEY_ID']);

/**
 * Maps a failed Plaid call to our error codes. No answer at all (refused, DNS, timeout) and
 * Plaid's own outages are PLAID_UNAVAILABLE (503), so clients retry instead of giving up.
 * https://plaid.com/docs/errors/
 */
export function mapPlaidError(failure: unknown): AppError {
  if (failure instanceof AppError) return failure;
  // Never keep the SDK error itself: its request config holds our secret and the access token.
  const err = summarize(failure);
  const plaid = plaidErrorOf(failure);
  const status = httpStatusOf(failure);
  if (!plaid) {
    if (status === undefined || status >= 500) return new AppError('PLAID_UNAVAILABLE', undefined, { cause: err, retryAfter: 5 });
    return new AppError('PLAID_ERROR', `Plaid answered HTTP ${status} without an error object`, { cause: err });
  }
  const why = (fallback: string) => `${fallback} (${plaid.error_code})`;
  switch (plaid.error_code) {
    case 'INVALID_PUBLIC_TOKEN':
      return new AppError('PLAID_INVALID_PUBLIC_TOKEN', undefined, { cause: err });
    case 'ITEM_LOGIN_REQUIRED':
      return new AppError('PLAID_ITEM_LOGIN_REQUIRED', undefined, { cause: err });
    case 'USER_PERMISSION_REVOKED':
      return new AppError('PLAID_ITEM_ACCESS_REVOKED', undefined, { cause: err });
    case 'PRODUCT_NOT_READY':
      return new AppError('PLAID_PRODUCT_NOT_READY', undefined, { cause: err, retryAfter: 5 });
    case 'INVALID_ACCESS_TOKEN':
    case 'ITEM_NOT_FOUND':
      return new AppError('PLAID_ITEM_NOT_FOUND', 'This bank item no longer exists at Plaid; link it again', { cause: err });
  }
  if (plaid.error_type === 'RATE_LIMIT_EXCEEDED' || plaid.error_code === 'RATE_LIMIT_EXCEEDED' || status === 429) {
    return new AppError('PLAID_RATE_LIMITED', undefined, { cause: err, retryAfter: 30 });
  }
  if (CONFIGURATION_CODES.has(plaid.error_code)) {
    return new AppError('PLAID_ERROR', why('Plaid refused our configuration'), { cause: err });
  }
  if (plaid.error_type === 'API_ERROR' || plaid.error_type === 'INSTITUTION_ERROR' || (status !== undefined && status >= 500)) {
    const message = plaid.error_type === 'INSTITUTION_ERROR' ? why('The bank is not responding through Plaid; retry later') : why('Plaid is having trouble; retry shortly');
    return new AppError('PLAID_UNAVAILABLE', message, { cause: err, retryAfter: 30 });
  }
  if (plaid.error_type === 'INVALID_REQUEST' || plaid.error_type === 'INVALID_INPUT') {
    return new AppError('PLAID_INVALID_REQUEST', why(plaid.error_message ? `Plaid rejected the request: ${plaid.error_message}` : 'Plaid rejected the request as invalid'), { cause: err });
  }
  return new AppError('PLAID_ERROR', why(plaid.display_message ?? 'Plaid returned an error'), { cause: err });
}

/** A log-safe stand-in for an SDK error: what failed, without the request that carried secrets. */
function summarize(err: unknown): Error {
  const plaid = plaidErrorOf(err);
  if (plaid) {
    return new Error(`Plaid ${plaid.error_type}/${plaid.error_code} (HTTP ${httpStatusOf(err) ?? '?'}, request_id ${plaid.request_id ?? '?'}): ${plaid.error_message ?? ''}`);
  }
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const status = httpStatusOf(err);
  return new Error(`Plaid call failed: ${status ? `HTTP ${status}` : 'no answer'}${typeof e?.code === 'string' ? ` ${e.code}` : ''}${typeof e?.message === 'string' ? `: ${e.message}` : ''}`);
}
