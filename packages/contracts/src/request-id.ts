import { randomUUID } from 'node:crypto';

/**
 * The request ids a caller may choose (an HTTP client's `x-request-id`, a NATS message's header):
 * short and inert, since an id goes into every log line of every hop and back out in a header.
 */
export const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** `given` when it is a safe request id, otherwise a fresh UUID. */
export function safeRequestId(given: unknown): string {
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}
