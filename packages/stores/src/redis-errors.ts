import { AppError } from '@repo/contracts';

/**
 * Runs a Redis call and turns a connection failure into STORE_UNAVAILABLE (503). The client is
 * created without an offline queue (see createRedis), so this fails at once instead of waiting.
 */
export async function guardRedis<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw new AppError('STORE_UNAVAILABLE', undefined, { cause: err, retryAfter: 1 });
  }
}
