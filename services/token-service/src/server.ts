// Entry: token-service as its own process on NATS + Redis.
import { loadConfigOrExit, runServiceProcess, waitReplicasOf } from '@repo/runtime';
import { RedisSessionStore } from '@repo/stores';
import { buildTokenService, SERVICE_NAME } from './app.ts';
import { loadConfig } from './config.ts';

const config = loadConfigOrExit(SERVICE_NAME, loadConfig);
await runServiceProcess({
  name: SERVICE_NAME,
  config,
  build: async ({ bus, redis, log, metrics }) => {
    // A session end is acknowledged once this many replicas have it (WAIT), so a failover keeps it.
    const sessions = new RedisSessionStore(redis, { waitReplicas: waitReplicasOf(config), waitTimeoutMs: config.REDIS_WAIT_TIMEOUT_MS, log });
    const app = await buildTokenService({ jwt: config, bus, sessions, logger: log, metrics });
    app.addHook('onClose', async () => sessions.close());
    return app;
  },
});
