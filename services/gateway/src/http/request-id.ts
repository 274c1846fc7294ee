import type { IncomingMessage } from 'node:http';
import { safeRequestId } from '@repo/contracts';

/** The client's `x-request-id` when it is short and safe (the rule of every hop), otherwise a fresh UUID. */
export function requestIdOf(req: IncomingMessage): string {
  return safeRequestId(req.headers['x-request-id']);
}
