// Every error code the system can answer with, in one table, so the gateway, the services and the
// docs agree. Codes are stable API: add new ones, never rename.
export const ErrorCodes = {
  VALIDATION_ERROR: { status: 400, message: 'The request is not valid' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  BAD_REQUEST: { status: 400, message: 'The request cannot be processed' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json' },
  MALFORMED_REQUEST: { status: 400, message: 'The request is not valid HTTP' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, message: 'The request line or headers are too large' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time' },
  INVALID_PHONE_NUMBER: { status: 400, message: 'The phone number is not a valid phone number' },
  INVALID_VERIFICATION_REQUEST: { status: 400, message: 'The verification request was rejected as invalid' },
  INVALID_VERIFICATION_CODE: { status: 401, message: 'Invalid verification code' },
  VERIFICATION_NOT_FOUND: { status: 404, message: 'No verification is pending for this phone number; request a new code' },
  VERIFICATION_EXPIRED: { status: 410, message: 'The verification code has expired; request a new code' },
  VERIFICATION_MAX_ATTEMPTS: { status: 429, message: 'Too many wrong codes; request a new code' },
  VERIFICATION_SEND_LIMIT: { status: 429, message: 'Too many codes sent to this phone number; try again later' },
  VERIFICATION_SEND_TOO_SOON: { status: 429, message: 'A code was sent to this phone number moments ago; wait before asking for another' },
  VERIFICATION_BUDGET_EXHAUSTED: { status: 429, message: 'Verification codes are temporarily unavailable; try again later' },
  PHONE_COUNTRY_NOT_ALLOWED: { status: 400, message: 'Verification codes cannot be sent to phone numbers of this country' },
  VERIFICATION_LOCKED: { status: 429, message: 'Too many wrong codes for this phone number; try again later' },
  VERIFICATION_ALREADY_USED: { status: 409, message: 'This verification code was already used; request a new code' },
  VERIFICATION_CONCURRENT_REQUESTS: { status: 429, message: 'Codes are being requested for this phone number too quickly; try again shortly' },
  PHONE_NUMBER_CANNOT_RECEIVE_SMS: { status: 400, message: 'This phone number cannot receive SMS (a landline?); ask for a call instead' },
  PHONE_NUMBER_BLOCKED: { status: 403, message: 'Verification codes to this phone number are temporarily blocked by fraud protection; try again later' },
  VERIFICATION_PROVIDER_ERROR: { status: 502, message: 'The SMS verification provider rejected the request' },
  VERIFICATION_PROVIDER_UNAVAILABLE: { status: 503, message: 'The SMS verification provider cannot be reached' },
  TOKEN_MISSING: { status: 401, message: 'Authorization header with a Bearer token is required' },
  TOKEN_INVALID: { status: 401, message: 'The token is not valid' },
  TOKEN_EXPIRED: { status: 401, message: 'The token has expired' },
  TOKEN_REVOKED: { status: 401, message: 'The token has been revoked' },
  REFRESH_TOKEN_REUSED: { status: 401, message: 'This refresh token was already used; the session has been revoked' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  RATE_LIMITED: { status: 429, message: 'Too many requests' },
  INTERNAL: { status: 500, message: 'Internal server error' },
  NOT_IMPLEMENTED: { status: 501, message: 'Not implemented' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'A backend service is unavailable; try again shortly' },
  STORE_UNAVAILABLE: { status: 503, message: 'The session store is unavailable; try again shortly' },
  PLAID_ITEM_NOT_FOUND: { status: 404, message: 'No linked bank item with this id for this user' },
  PLAID_INVALID_PUBLIC_TOKEN: { status: 400, message: 'The public token is invalid, expired or already used' },
  PLAID_ITEM_LOGIN_REQUIRED: { status: 409, message: 'The bank needs the user to log in again through Plaid Link (update mode)' },
  PLAID_ITEM_ACCESS_REVOKED: { status: 409, message: "The user revoked this app's access to the bank account; link the bank again" },
  PLAID_PRODUCT_NOT_READY: { status: 409, message: 'Transactions are not ready yet; retry shortly' },
  PLAID_RATE_LIMITED: { status: 429, message: 'Plaid rate limit exceeded; retry later' },
  PLAID_INVALID_REQUEST: { status: 400, message: 'Plaid rejected the request as invalid' },
  PLAID_ERROR: { status: 502, message: 'Plaid returned an error' },
  PLAID_UNAVAILABLE: { status: 503, message: 'Plaid cannot be reached' },
  PLAID_SANDBOX_ONLY: { status: 403, message: 'This route is only available when Plaid runs in sandbox or on the emulator' },
  WEBHOOK_VERIFICATION_FAILED: { status: 401, message: 'The webhook signature could not be verified' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  410: 'Gone',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}

/** The error body every HTTP route answers with, in Fastify's shape plus our stable `code`. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  code: ErrorCode;
  message: string;
  retry_after?: number;
}

export interface AppErrorOptions {
  /** Seconds after which the client may retry (sent as Retry-After). */
  retryAfter?: number;
  cause?: unknown;
}

/** A failure the client is meant to see: a stable code, its HTTP status and a clear message. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message?: string, options: AppErrorOptions = {}) {
    // A client's mistake (4xx) is not a bug: no stack, whose capture is most of what refusing a
    // bad token costs. Server errors keep theirs for the log.
    const stackTraceLimit = Error.stackTraceLimit;
    if (ErrorCodes[code].status < 500) Error.stackTraceLimit = 0;
    super(message ?? ErrorCodes[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'AppError';
    this.code = code;
    this.statusCode = ErrorCodes[code].status;
    this.retryAfter = options.retryAfter;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = {
      statusCode: this.statusCode,
      error: statusText(this.statusCode),
      code: this.code,
      message: this.message,
    };
    if (this.retryAfter !== undefined) body.retry_after = this.retryAfter;
    return body;
  }

  /** Rebuilds an AppError that travelled as a body (over NATS); unknown codes become INTERNAL. */
  static fromBody(body: unknown): AppError {
    const b = (body ?? {}) as Partial<ErrorBody>;
    const code = typeof b.code === 'string' && b.code in ErrorCodes ? (b.code as ErrorCode) : 'INTERNAL';
    const message = typeof b.message === 'string' && code !== 'INTERNAL' ? b.message : undefined;
    const retryAfter = typeof b.retry_after === 'number' ? b.retry_after : undefined;
    return new AppError(code, message, retryAfter === undefined ? {} : { retryAfter });
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
