/** Twilio's error body, `{code, message, more_info, status}`: the SDK turns it into a RestException. */
export class TwilioError extends Error {
  readonly code: number;
  readonly status: number;
  readonly detail: string | undefined;
  /** For a 429: the seconds after which the same request may succeed, sent as `Retry-After`. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: number, status: number, message: string, detail?: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'TwilioError';
    this.code = code;
    this.status = status;
    this.detail = detail;
    this.retryAfterSeconds = retryAfterSeconds ?? (status === 429 ? RETRY_AFTER_SECONDS[code] : undefined);
  }

  toBody(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      more_info: `https://www.twilio.com/docs/errors/${this.code}`,
      status: this.status,
      ...(this.detail === undefined ? {} : { detail: this.detail }),
    };
  }
}

export const authenticationFailed = () =>
  new TwilioError(20003, 401, 'Authenticate', 'Your AccountSid or AuthToken was incorrect.');

/** Twilio names the resource without the API version: `/Services/VA.../VerificationCheck`. */
export const resourceNotFound = (resource: string) =>
  new TwilioError(20404, 404, `The requested resource ${resource} was not found`);

export const invalidParameter = (name: string, value: unknown) =>
  new TwilioError(60200, 400, `Invalid parameter \`${name}\`: ${value === undefined ? 'missing' : String(value)}`);

/** `retryAfterSeconds`: until the verification would have expired (Twilio: "wait for the verification to expire"). */
export const maxCheckAttemptsReached = (retryAfterSeconds?: number) => new TwilioError(60202, 429, 'Max check attempts reached', undefined, retryAfterSeconds);

/** `retryAfterSeconds`: until the verification expires and a new one can start. */
export const maxSendAttemptsReached = (retryAfterSeconds?: number) => new TwilioError(60203, 429, 'Max send attempts reached', undefined, retryAfterSeconds);

export const internalError = () => new TwilioError(20500, 500, 'Internal Server Error');

/**
 * `Retry-After` of each 429 when nothing more precise is known (a limit queued by a test): Twilio
 * documents none of these values. 20429 and 60212 pass in a moment; 60202 and 60203 last as long
 * as the verification (10 minutes).
 */
const RETRY_AFTER_SECONDS: Record<number, number> = { 20429: 1, 60212: 1, 60202: 600, 60203: 600 };

/**
 * The limits and blocks Twilio answers before a code goes out, with its HTTP statuses and messages
 * (https://www.twilio.com/docs/api/errors/<code>). Tests make the emulator answer them.
 */
export const TWILIO_REFUSALS = {
  20429: { status: 429, message: 'Too Many Requests' },
  60202: { status: 429, message: 'Max check attempts reached' },
  60203: { status: 429, message: 'Max send attempts reached' },
  60205: { status: 403, message: 'SMS is not supported by landline phone number' },
  60212: { status: 429, message: 'Too many concurrent requests for phone number' },
  60410: { status: 403, message: 'Verification delivery attempt blocked' },
  60605: { status: 403, message: 'Verification delivery attempt blocked' },
  20500: { status: 500, message: 'Internal Server Error' },
  20503: { status: 503, message: 'Service Unavailable' },
} as const satisfies Record<number, { status: number; message: string }>;

export type TwilioRefusalCode = keyof typeof TWILIO_REFUSALS;

export const isTwilioRefusalCode = (code: number): code is TwilioRefusalCode => code in TWILIO_REFUSALS;

export const twilioRefusal = (code: TwilioRefusalCode): TwilioError => {
  const { status, message } = TWILIO_REFUSALS[code];
  return new TwilioError(code, status, message);
};
