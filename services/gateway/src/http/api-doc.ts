// What the OpenAPI document says each route can answer besides its success: the error codes,
// grouped by status, as an enum on `code`, so a typed client can switch on them.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ErrorCodes, ErrorReply, statusText, type ErrorCode } from '@repo/contracts';

/** Any route: a bug, or the gateway shutting down / a service unreachable. */
const ANY: ErrorCode[] = ['INTERNAL', 'SERVICE_UNAVAILABLE'];
/** Every route behind the per-IP limit (all but /health and /ready). */
export const LIMITED: ErrorCode[] = [...ANY, 'RATE_LIMITED'];
/** A JSON body, checked against the route's schema. */
export const BODY: ErrorCode[] = ['VALIDATION_ERROR', 'INVALID_JSON', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE'];
/** An access token of a live session (the authenticate hook). */
export const ACCESS: ErrorCode[] = ['TOKEN_MISSING', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_REVOKED', 'STORE_UNAVAILABLE'];
/** What plaid-service answers for any Plaid call. */
export const PLAID: ErrorCode[] = ['PLAID_RATE_LIMITED', 'PLAID_INVALID_REQUEST', 'PLAID_ERROR', 'PLAID_UNAVAILABLE'];

/** The shared error body (added with addSchema by the swagger plugin): `#/components/schemas/Error`. */
const ErrorRef = Type.Unsafe<Static<typeof ErrorReply>>(Type.Ref(ErrorReply.$id!));

/**
 * Response schemas for these error codes: one per status, each the error body with `code`
 * narrowed to the codes of that status, plus the generic error body for any other 4xx/5xx
 * (protocol errors such as 408, 413, 431 can reach every route). The headers (x-request-id,
 * Retry-After on 429 and 503) are added to the document by the swagger plugin.
 */
export function errorResponses(...groups: ErrorCode[][]): Record<string, TSchema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(groups.flat())) {
    const status = ErrorCodes[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, TSchema> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[status] = Type.Object(
      { ...ErrorReply.properties, code: Type.Unsafe<ErrorCode>({ type: 'string', enum: codes, description: 'Stable machine-readable code, see the README' }) },
      {
        description: `Error: ${codes.join(', ')}`,
        examples: [{ statusCode: status, error: statusText(status), code: codes[0], message: ErrorCodes[codes[0]!].message }],
      },
    );
  }
  return { ...responses, '4xx': ErrorRef, '5xx': ErrorRef };
}
