import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildTwilioVerifyEmulator, type TwilioVerifyEmulatorOptions } from './app.ts';

export interface StartedTwilioVerifyEmulator {
  /** e.g. `http://127.0.0.1:34567`, to hand to `EmulatorRequestClient`. */
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Builds the emulator and listens; port 0 (the default) picks a free port. */
export async function startTwilioVerifyEmulator(
  opts: TwilioVerifyEmulatorOptions & { host?: string; port?: number } = {},
): Promise<StartedTwilioVerifyEmulator> {
  const { host = '127.0.0.1', port = 0, ...options } = opts;
  const app = buildTwilioVerifyEmulator(options);
  await app.listen({ host, port });
  const { port: boundPort } = app.server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${urlHost}:${boundPort}`, app, close: () => app.close() };
}
