import type { TObject, Static } from '@sinclair/typebox';
import { loadConfigOrExit, parseEnv } from './env.ts';
import { closeOnSignals } from './shutdown.ts';

/**
 * Runs a standalone tool process (the emulators): reads its env against `schema` (one line and
 * exit 1 when wrong), starts it, prints `banner(started)`, and closes it on SIGINT/SIGTERM.
 */
export async function runStandalone<S extends TObject, T extends { close(): Promise<void> }>(
  name: string,
  schema: S,
  start: (env: Static<S>) => Promise<T>,
  banner: (started: T) => string,
  check: (env: Static<S>) => void = () => undefined,
): Promise<void> {
  const env = loadConfigOrExit(name, () => {
    const parsed = parseEnv(schema);
    check(parsed);
    return parsed;
  });
  let started: T;
  try {
    started = await start(env);
  } catch (err) {
    process.stderr.write(`${name}: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${banner(started)}\n`);
  closeOnSignals(
    {
      info: () => undefined,
      error: ({ err }: { err?: unknown }) => process.stderr.write(`${name}: ${(err as Error | undefined)?.stack ?? String(err)}\n`),
    },
    () => started.close(),
  );
}
