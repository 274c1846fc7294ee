import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { TwilioCredentials } from './authenticate.ts';
import { EmulatorClock } from './clock.ts';
import { Outbox } from './outbox.ts';
import { Refusals, type RefusalRules } from './refusals.ts';
import { emulatorRoutes } from './routes/emulator.ts';
import { verifyRoutes } from './routes/verify.ts';
import { VerificationStore } from './verification-store.ts';

/** The Verify service the emulator has when none are configured. */
export const DEFAULT_SERVICE_SID = 'VA00000000000000000000000000000000';

export interface TwilioVerifyEmulatorOptions extends RefusalRules {
  /** When set, Basic auth must match exactly; otherwise any `AC...` SID with a non-empty token passes. */
  credentials?: TwilioCredentials;
  /** How long a code stays valid; Twilio's default is 10 minutes. */
  codeTtlSeconds?: number;
  maxCheckAttempts?: number;
  maxSendAttempts?: number;
  /** The Verify services that exist (default: DEFAULT_SERVICE_SID); any other `VA…` is 20404. */
  serviceSids?: readonly string[];
  /** Milliseconds since the epoch; `POST /_emulator/clock/advance` adds an offset to it. */
  now?: () => number;
  logger?: FastifyServerOptions['logger'];
}

/** The emulator as a Fastify app, not listening. All state lives in this instance. */
export function buildTwilioVerifyEmulator(opts: TwilioVerifyEmulatorOptions = {}): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false });
  const clock = new EmulatorClock(opts.now ?? Date.now);
  const outbox = new Outbox();
  const store = new VerificationStore(
    {
      codeTtlSeconds: opts.codeTtlSeconds ?? 600,
      maxCheckAttempts: opts.maxCheckAttempts ?? 5,
      maxSendAttempts: opts.maxSendAttempts ?? 5,
    },
    clock,
    outbox,
  );
  const refusals = new Refusals(opts);
  app.register(emulatorRoutes, { outbox, clock, refusals });
  app.register(verifyRoutes, {
    prefix: '/v2',
    store,
    credentials: opts.credentials,
    serviceSids: opts.serviceSids ?? [DEFAULT_SERVICE_SID],
    refusals,
  });
  return app;
}
