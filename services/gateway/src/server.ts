// Entry: the gateway as its own process on NATS + Redis. On SIGTERM it turns /ready to 503 and
// keeps serving for SHUTDOWN_DRAIN_MS (default 5 s) while load balancers move traffic away, then
// closes, finishing the requests in flight.
import { loadConfigOrExit, runServiceProcess } from '@repo/runtime';
import { RedisSessionMirror } from '@repo/stores';
import { buildGateway } from './app.ts';
import { loadConfig } from './config.ts';

const SERVICE_NAME = 'gateway';
const DEFAULT_DRAIN_MS = 5_000;

const config = loadConfigOrExit(SERVICE_NAME, loadConfig);
await runServiceProcess({
  name: SERVICE_NAME,
  config,
  busTimeoutMs: config.BUS_TIMEOUT_MS,
  defaultDrainMs: DEFAULT_DRAIN_MS,
  build: async ({ bus, redis, log, metrics }) => {
    // Session state kept in memory, fed by Redis; fails closed while out of sync with it.
    const sessions = new RedisSessionMirror(redis, { log });
    sessions.start();
    const app = await buildGateway({ settings: config, bus, sessions, redis, logger: log, metrics });
    app.addHook('onClose', () => sessions.close());
    return app;
  },
});
