/** Twilio's error body, `{code, message, more_info, status}`: the SDK turns it into a RestException. */
export class TwilioError extends Error {
  readonly code: number;
  readonly status: number;
  readonly detail: string | undefined;

  constructor(code: number, status: number, message: string, detail?: string) {
    super(message);
    this.name = 'TwilioError';
    this.code = code;
    this.status = status;
    this.detail = detail;
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

export const maxCheckAttemptsReached = () => new TwilioError(60202, 429, 'Max check attempts reached');

export const maxSendAttemptsReached = () => new TwilioError(60203, 429, 'Max send attempts reached');

export const internalError = () => new TwilioError(20500, 500, 'Internal Server Error');
