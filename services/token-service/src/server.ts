// Entry: token-service as its own process on NATS + Redis.
import { loadConfigOrExit, runServiceProcess } from '@repo/runtime';
import { RedisSessionStore } from '@repo/stores';
import { buildTokenService, SERVICE_NAME } from './app.ts';
import { loadConfig } from './config.ts';

const config = loadConfigOrExit(SERVICE_NAME, loadConfig);
await runServiceProcess({
  name: SERVICE_NAME,
  config,
  build: ({ bus, redis, log, metrics }) => buildTokenService({ jwt: config, bus, sessions: new RedisSessionStore(redis), logger: log, metrics }),
});
