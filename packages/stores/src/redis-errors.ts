import { ReplyError } from 'ioredis';
import { AppError } from '@repo/contracts';

// Replies that mean "Redis cannot serve right now", not "this command is wrong".
const TRANSIENT_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;

// What ioredis 5 rejects a command with when it never got an answer (built/Redis.js,
// built/Command.js, built/redis/event_handler.js): no connection and no offline queue (see
// createRedis), the connection lost or closed while waiting, or commandTimeout.
const CONNECTION_MESSAGES = new Set([
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Connection is closed.',
  'Command timed out',
]);
// MaxRetriesPerRequestError: the reconnect attempts a command may wait for are spent. AbortError
// (redis-errors): the connection closed with the command sent but unanswered.
const CONNECTION_ERROR_NAMES = new Set(['MaxRetriesPerRequestError', 'AbortError']);
// Socket failures, as Node (and ioredis's own connect timeout) report them.
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);

/** true for a failure that says Redis cannot be reached or did not answer in time: an outage, worth a retry. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof ReplyError) return TRANSIENT_REPLIES.test(err.message);
  const code = (err as NodeJS.ErrnoException).code;
  return CONNECTION_MESSAGES.has(err.message) || CONNECTION_ERROR_NAMES.has(err.name) || (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code));
}

/**
 * Runs a Redis call and maps its failure: an unreachable or timed-out Redis becomes
 * STORE_UNAVAILABLE (503, retry shortly; the client has no offline queue, see createRedis, so
 * this fails at once). Anything else — a failing script, a reply we cannot parse, a bug in the
 * store — is not an outage and must not be reported as one: INTERNAL (500), with the cause kept
 * for the log.
 */
export async function guardRedis<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (isRedisUnavailable(err)) throw new AppError('STORE_UNAVAILABLE', undefined, { cause: err, retryAfter: 1 });
    const message = err instanceof ReplyError ? `Redis refused a command: ${(err as Error).message}` : 'A Redis store call failed';
    throw new AppError('INTERNAL', message, { cause: err });
  }
}

/** Throws the first error of a MULTI's results (ioredis reports them per command). */
export function throwOnMultiError(results: Array<[Error | null, unknown]> | null): void {
  if (!results) throw new Error('Redis transaction was aborted');
  const failed = results.find(([err]) => err);
  if (failed?.[0]) throw failed[0];
}
