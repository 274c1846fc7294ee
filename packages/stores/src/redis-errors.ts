import { ReplyError } from 'ioredis';
import { AppError } from '@repo/contracts';

// Replies that mean "Redis cannot serve right now", not "this command is wrong".
const TRANSIENT_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;

/**
 * Runs a Redis call and maps its failure: an unreachable or timed-out Redis becomes
 * STORE_UNAVAILABLE (503, retry shortly; the client has no offline queue, see createRedis, so
 * this fails at once). A reply error such as a failing script is a bug, not an outage: INTERNAL
 * (500), with the cause kept for the log.
 */
export async function guardRedis<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof ReplyError && !TRANSIENT_REPLIES.test((err as Error).message)) {
      throw new AppError('INTERNAL', `Redis refused a command: ${(err as Error).message}`, { cause: err });
    }
    throw new AppError('STORE_UNAVAILABLE', undefined, { cause: err, retryAfter: 1 });
  }
}

/** Throws the first error of a MULTI's results (ioredis reports them per command). */
export function throwOnMultiError(results: Array<[Error | null, unknown]> | null): void {
  if (!results) throw new Error('Redis transaction was aborted');
  const failed = results.find(([err]) => err);
  if (failed?.[0]) throw failed[0];
}
