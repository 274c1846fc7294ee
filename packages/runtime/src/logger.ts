import pino, { type Logger, type LoggerOptions } from 'pino';
import { TurnBatchedStdout } from './log-destination.ts';

/**
 * Paths pino must never write: credentials, tokens, SMS codes (in bodies or payloads; a bare
 * `code` elsewhere is an error code and stays readable), Plaid access tokens.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["plaid-verification"]',
  'headers.authorization',
  '*.authorization',
  '*.access_token',
  '*.refresh_token',
  '*.public_token',
  'body.code',
  '*.body.code',
  'payload.code',
  '*.password',
  '*.secret',
  '*.tokens',
  'access_token',
  'refresh_token',
  'public_token',
  'secret',
  'tokens',
];

export function loggerOptions(service: string, level: string): LoggerOptions {
  return {
    level,
    name: service,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
}

/**
 * Readable logs are for a person at a terminal: NODE_ENV development (the default) and stdout a
 * TTY. Anything else (production, tests, a pipe, a file, a log collector) gets JSON lines.
 */
export function wantsPrettyLogs(env: NodeJS.ProcessEnv = process.env, stdout: { isTTY?: boolean } = process.stdout): boolean {
  return stdout.isTTY === true && (env.NODE_ENV ?? 'development') === 'development';
}

/**
 * A service's logger: JSON lines on stdout, written asynchronously (a request does not wait for
 * its log line's write; the lines of one event-loop turn go out as one, see TurnBatchedStdout) and
 * flushed when the process exits.
 * (The embedded system, `npm start`, writes readable lines instead at a terminal: `wantsPrettyLogs`.)
 */
export function createLogger(service: string, level: string): Logger {
  return pino(loggerOptions(service, level), new TurnBatchedStdout());
}
