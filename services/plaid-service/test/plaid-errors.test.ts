import { describe, expect, it } from 'vitest';
import { AppError } from '@repo/contracts';
import { mapPlaidError } from '../src/plaid-errors.ts';

/** What the SDK (axios) throws when Plaid answers with an error object. */
function sdkError(status: number, error_type: string, error_code: string) {
  return Object.assign(new Error(`Request failed with status code ${status}`), {
    isAxiosError: true,
    config: { headers: { 'PLAID-SECRET': 'super-secret' }, data: '{"access_token":"access-sandbox-123"}' },
    response: { status, data: { error_type, error_code, error_message: `${error_code} happened`, display_message: null, request_id: 'req-1' } },
  });
}

describe('mapPlaidError', () => {
  it.each([
    [400, 'INVALID_INPUT', 'INVALID_PUBLIC_TOKEN', 'PLAID_INVALID_PUBLIC_TOKEN', 400],
    [400, 'ITEM_ERROR', 'ITEM_LOGIN_REQUIRED', 'PLAID_ITEM_LOGIN_REQUIRED', 409],
    [400, 'ITEM_ERROR', 'PRODUCT_NOT_READY', 'PLAID_PRODUCT_NOT_READY', 409],
    [429, 'RATE_LIMIT_EXCEEDED', 'RATE_LIMIT_EXCEEDED', 'PLAID_RATE_LIMITED', 429],
    [429, 'RATE_LIMIT_EXCEEDED', 'TRANSACTIONS_SYNC_LIMIT', 'PLAID_RATE_LIMITED', 429],
    [400, 'INVALID_INPUT', 'INVALID_ACCESS_TOKEN', 'PLAID_ITEM_NOT_FOUND', 404],
    [400, 'ITEM_ERROR', 'ITEM_NOT_FOUND', 'PLAID_ITEM_NOT_FOUND', 404],
    [400, 'INVALID_REQUEST', 'MISSING_FIELDS', 'PLAID_INVALID_REQUEST', 400],
    [400, 'INVALID_INPUT', 'INVALID_FIELD', 'PLAID_INVALID_REQUEST', 400],
    [400, 'INVALID_INPUT', 'INVALID_API_KEYS', 'PLAID_ERROR', 502],
    [500, 'API_ERROR', 'INTERNAL_SERVER_ERROR', 'PLAID_UNAVAILABLE', 503],
    [400, 'INSTITUTION_ERROR', 'INSTITUTION_DOWN', 'PLAID_UNAVAILABLE', 503],
    [400, 'ASSET_REPORT_ERROR', 'SOMETHING_NEW', 'PLAID_ERROR', 502],
  ])('HTTP %i %s/%s -> %s (%i)', (status, type, code, ours, ourStatus) => {
    const mapped = mapPlaidError(sdkError(status, type, code));
    expect(mapped).toBeInstanceOf(AppError);
    expect([mapped.code, mapped.statusCode]).toEqual([ours, ourStatus]);
  });

  it('asks clients to come back later for rate limits and not-ready products', () => {
    expect(mapPlaidError(sdkError(429, 'RATE_LIMIT_EXCEEDED', 'RATE_LIMIT_EXCEEDED')).retryAfter).toBeGreaterThan(0);
    expect(mapPlaidError(sdkError(400, 'ITEM_ERROR', 'PRODUCT_NOT_READY')).retryAfter).toBeGreaterThan(0);
  });

  it('maps no answer at all (refused, timeout) to PLAID_UNAVAILABLE 503', () => {
    for (const err of [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), Object.assign(new Error('timeout of 100ms exceeded'), { code: 'ECONNABORTED' })]) {
      const mapped = mapPlaidError(err);
      expect([mapped.code, mapped.statusCode, mapped.retryAfter]).toEqual(['PLAID_UNAVAILABLE', 503, 5]);
    }
  });

  it('keeps neither our secret nor the access token in the error it builds', () => {
    const mapped = mapPlaidError(sdkError(400, 'INVALID_REQUEST', 'MISSING_FIELDS'));
    const everything = JSON.stringify({ message: mapped.message, cause: String(mapped.cause), own: mapped, causeOwn: mapped.cause });
    expect(everything).not.toContain('super-secret');
    expect(everything).not.toContain('access-sandbox-123');
    expect(String(mapped.cause)).toContain('MISSING_FIELDS');
  });

  it('leaves our own errors alone', () => {
    const ours = new AppError('STORE_UNAVAILABLE');
    expect(mapPlaidError(ours)).toBe(ours);
  });
});
