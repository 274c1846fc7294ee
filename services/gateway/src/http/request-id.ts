import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

// Short and inert: it goes into every log line and back out in a response header.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The client's `x-request-id` when it is short and safe, otherwise a fresh UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}
