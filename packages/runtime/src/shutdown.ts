import closeWithGrace from 'close-with-grace';

/**
 * Runs `close` once on SIGINT/SIGTERM or an uncaught error, with a deadline so a stuck
 * dependency cannot keep the process alive.
 */
export function closeOnSignals(log: { error(obj: object, msg?: string): void; info(obj: object, msg?: string): void }, close: () => Promise<void>): void {
  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err) log.error({ err }, 'shutting down after an uncaught error');
    else log.info({ signal }, 'shutting down');
    await close();
  });
}
