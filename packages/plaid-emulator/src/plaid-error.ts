import { randomBytes } from 'node:crypto';

/** Plaid's error object, as every non-2xx answer of the Plaid API carries it. https://plaid.com/docs/errors/ */
export interface PlaidErrorObject {
  error_type: string;
  error_code: string;
  error_code_reason: string | null;
  error_message: string;
  display_message: string | null;
  request_id: string;
  causes: unknown[];
  status: number;
  documentation_url: string;
  suggested_action: string | null;
}

const STATUS_OF_TYPE: Record<string, number> = {
  INVALID_REQUEST: 400,
  INVALID_INPUT: 400,
  INVALID_RESULT: 400,
  ITEM_ERROR: 400,
  INSTITUTION_ERROR: 400,
  TRANSACTIONS_ERROR: 400,
  SANDBOX_ERROR: 400,
  RATE_LIMIT_EXCEEDED: 429,
  API_ERROR: 500,
};

export function requestId(): string {
  return randomBytes(8).toString('base64url').slice(0, 11);
}

/** A failure the routes throw; the error handler answers it as Plaid's error object. */
export class PlaidError extends Error {
  readonly status: number;

  constructor(
    readonly errorType: string,
    readonly errorCode: string,
    message: string,
    options: { status?: number; displayMessage?: string | null } = {},
  ) {
    super(message);
    this.status = options.status ?? STATUS_OF_TYPE[errorType] ?? 400;
    this.displayMessage = options.displayMessage ?? null;
  }

  readonly displayMessage: string | null;

  /** The failure an item's stored error object stands for. */
  static from(error: PlaidErrorObject): PlaidError {
    return new PlaidError(error.error_type, error.error_code, error.error_message, { status: error.status, displayMessage: error.display_message });
  }

  toBody(): PlaidErrorObject {
    return {
      error_type: this.errorType,
      error_code: this.errorCode,
      error_code_reason: null,
      error_message: this.message,
      display_message: this.displayMessage,
      request_id: requestId(),
      causes: [],
      status: this.status,
      documentation_url: `https://plaid.com/docs/errors/${this.errorType.toLowerCase().replaceAll('_', '-')}/#${this.errorCode.toLowerCase()}`,
      suggested_action: null,
    };
  }
}

export const missingFields = (fields: string[]) =>
  new PlaidError('INVALID_REQUEST', 'MISSING_FIELDS', `the following required fields are missing: ${fields.join(', ')}`);

export const unknownFields = (fields: string[]) =>
  new PlaidError('INVALID_REQUEST', 'UNKNOWN_FIELDS', `the following fields are not recognized by this endpoint: ${fields.join(', ')}`);

export const invalidField = (message: string) => new PlaidError('INVALID_REQUEST', 'INVALID_FIELD', message);

export const invalidAccessToken = () =>
  new PlaidError('INVALID_INPUT', 'INVALID_ACCESS_TOKEN', 'provided access token is in an invalid format. expected format: access-<environment>-<identifier>');

export const itemNotFound = () =>
  new PlaidError('ITEM_ERROR', 'ITEM_NOT_FOUND', 'The Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user.');

export const itemLoginRequired = () =>
  new PlaidError('ITEM_ERROR', 'ITEM_LOGIN_REQUIRED', "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state", {
    displayMessage: "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state",
  });

export const userPermissionRevoked = () =>
  new PlaidError('ITEM_ERROR', 'USER_PERMISSION_REVOKED', 'the holder of this account has revoked their permission for your application to access it', {
    displayMessage: 'The user revoked access to this account. Ask them to link it again.',
  });
