// The SDK's REST client and its error, not the package's index: that one also loads TwiML, JWT and
// webhook helpers this service never uses (about 65 more modules at every start).
import Twilio from 'twilio/lib/rest/Twilio.js';
import RestExceptionModule from 'twilio/lib/base/RestException.js';
import { AppError } from '@repo/contracts';
import type { UpstreamMetrics } from '@repo/telemetry';
import type { TwilioSettings } from './config.ts';
import { BaseUrlRequestClient } from './twilio-base-url.ts';

// A CommonJS module with `exports.default`: Node's import gives its exports object (the class is
// its `default`), loaders that honour `__esModule` (vitest's) give the class itself.
type RestExceptionClass = typeof RestExceptionModule.default;
const RestException = (RestExceptionModule as { default?: RestExceptionClass }).default ?? (RestExceptionModule as unknown as RestExceptionClass);

export type Channel = 'sms' | 'call' | 'whatsapp';

/** Thrown by `check` when Twilio has nothing pending for the number (its error 20404). */
export class NothingPendingError extends Error {}

/** Twilio Verify as our code needs it; every failure comes out as an AppError. */
export interface VerifyProvider {
  /** `newCode`: Twilio started a new verification, rather than resending a pending one's code. */
  send(to: string, channel: Channel): Promise<{ newCode: boolean }>;
  /** true when approved, false for a wrong code. */
  check(to: string, code: string): Promise<boolean>;
}

/** Each call is timed into `metrics` (operations `verifications.create`, `verification_checks.create`), its outcome our error code. */
export function createTwilioVerify(settings: TwilioSettings, metrics?: UpstreamMetrics): VerifyProvider {
  const timed = <T>(operation: string, call: () => Promise<T>): Promise<T> => (metrics ? metrics.time(operation, call, outcomeOf) : call());
  const client = new Twilio(settings.accountSid, settings.authToken, {
    timeout: settings.timeoutMs,
    ...(settings.baseUrl ? { httpClient: new BaseUrlRequestClient(settings.baseUrl, { timeout: settings.timeoutMs }) } : {}),
  });
  const service = client.verify.v2.services(settings.serviceSid);
  return {
    async send(to, channel) {
      try {
        const verification = await timed('verifications.create', () => service.verifications.create({ to, channel }));
        // A resend within the code's life is listed as one more attempt of the same verification.
        return { newCode: (verification.sendCodeAttempts?.length ?? 1) <= 1 };
      } catch (err) {
        throw mapTwilioError(err);
      }
    },
    async check(to, code) {
      try {
        const result = await timed('verification_checks.create', () => service.verificationChecks.create({ to, code }));
        return result.status === 'approved';
      } catch (err) {
        if (twilioErrorCode(err) === 20404) throw new NothingPendingError();
        throw mapTwilioError(err);
      }
    },
  };
}

/** A failed call as counted: 20404 (nothing pending) is an answer, not a provider failure, but still not "ok". */
function outcomeOf(err: unknown): string {
  return twilioErrorCode(err) === 20404 ? 'NOTHING_PENDING' : mapTwilioError(err).code;
}

function twilioErrorCode(err: unknown): number | undefined {
  return err instanceof RestException ? err.code : undefined;
}

// Twilio error codes: https://www.twilio.com/docs/api/errors
const PHONE_NUMBER_ERRORS = new Set([21211, 21214, 21408, 21610, 21612, 21614]);

/** Maps a Twilio SDK failure to our error codes. Exported for tests. */
export function mapTwilioError(err: unknown): AppError {
  if (!(err instanceof RestException)) {
    // No HTTP answer at all: refused connection, DNS, timeout.
    return new AppError('VERIFICATION_PROVIDER_UNAVAILABLE', undefined, { cause: err, retryAfter: 5 });
  }
  const code = err.code ?? 0;
  if (code === 60200) {
    return /\bTo\b/.test(err.message)
      ? new AppError('INVALID_PHONE_NUMBER', 'Twilio does not accept this phone number', { cause: err })
      : new AppError('INVALID_VERIFICATION_REQUEST', undefined, { cause: err });
  }
  if (PHONE_NUMBER_ERRORS.has(code)) return new AppError('INVALID_PHONE_NUMBER', 'This phone number cannot receive verification codes', { cause: err });
  // A valid number Twilio will not send to: each gets its own code, so the client can say why.
  if (code === 60205) return new AppError('PHONE_NUMBER_CANNOT_RECEIVE_SMS', undefined, { cause: err });
  if (code === 60410) return new AppError('PHONE_NUMBER_BLOCKED', undefined, { cause: err });
  if (code === 60605) return new AppError('PHONE_COUNTRY_NOT_ALLOWED', 'Verification codes cannot be sent to this destination (blocked by the SMS provider)', { cause: err });
  if (code === 60212) return new AppError('VERIFICATION_CONCURRENT_REQUESTS', undefined, { cause: err, retryAfter: 5 });
  // Twilio deletes the verification; a code lives 10 minutes, so that is when asking is certainly useful.
  if (code === 60202) return new AppError('VERIFICATION_MAX_ATTEMPTS', undefined, { cause: err, retryAfter: 600 });
  if (code === 60203) return new AppError('VERIFICATION_SEND_LIMIT', undefined, { cause: err, retryAfter: 600 });
  if (err.status === 429) return new AppError('RATE_LIMITED', 'The SMS provider is rate limiting us; try again shortly', { cause: err, retryAfter: 5 });
  if (err.status >= 500) return new AppError('VERIFICATION_PROVIDER_UNAVAILABLE', undefined, { cause: err, retryAfter: 5 });
  return new AppError('VERIFICATION_PROVIDER_ERROR', undefined, { cause: err });
}
