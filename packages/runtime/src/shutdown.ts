import closeWithGrace from 'close-with-grace';
import { Type, type Static } from '@sinclair/typebox';

/** How a service process shuts down on SIGTERM; read by `runServiceProcess`. */
export const shutdownEnv = (defaultDrainMs: number) =>
  Type.Object({
    SHUTDOWN_DRAIN_MS: Type.Integer({
      minimum: 0,
      default: defaultDrainMs,
      description: 'after SIGTERM, how long to keep serving with /ready at 503 so load balancers stop sending traffic (gateway default 5000, services 0)',
    }),
    SHUTDOWN_TIMEOUT_MS: Type.Integer({
      minimum: 0,
      default: 10_000,
      description: 'after the drain, how long requests already being handled may take to finish before the process exits anyway',
    }),
  });
export type ShutdownSettings = Static<ReturnType<typeof shutdownEnv>>;

/**
 * Runs `close` once on SIGINT/SIGTERM or an uncaught error, with a deadline (by default 10 s) so a
 * stuck dependency cannot keep the process alive.
 */
export function closeOnSignals(
  log: { error(obj: object, msg?: string): void; info(obj: object, msg?: string): void },
  close: () => Promise<void>,
  delayMs = 10_000,
): void {
  closeWithGrace({ delay: delayMs }, async ({ err, signal }) => {
    if (err) log.error({ err }, 'shutting down after an uncaught error');
    else log.info({ signal }, 'shutting down');
    await close();
  });
}
