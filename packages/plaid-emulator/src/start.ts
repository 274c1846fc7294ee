import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildPlaidEmulator, type PlaidEmulatorOptions } from './app.ts';
import type { WebhookDelivery } from './webhooks.ts';

export interface StartedPlaidEmulator {
  /** e.g. `http://127.0.0.1:34567`, the `basePath` for the plaid SDK. */
  url: string;
  app: FastifyInstance;
  deliveries: WebhookDelivery[];
  webhooksQueued(): number;
  close(): Promise<void>;
}

/** Builds the emulator and listens; port 0 (the default) picks a free port. */
export async function startPlaidEmulator(opts: PlaidEmulatorOptions & { host?: string; port?: number } = {}): Promise<StartedPlaidEmulator> {
  const { host = '127.0.0.1', port = 0, ...options } = opts;
  const { app, deliveries, webhooksQueued } = await buildPlaidEmulator(options);
  await app.listen({ host, port });
  const { port: boundPort } = app.server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${urlHost}:${boundPort}`, app, deliveries, webhooksQueued, close: () => app.close() };
}
