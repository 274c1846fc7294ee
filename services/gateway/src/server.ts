// Entry: the gateway as its own process on NATS + Redis.
import { loadConfigOrExit, runServiceProcess } from '@repo/runtime';
import { RedisSessionStore } from '@repo/stores';
import { buildGateway } from './app.ts';
import { loadConfig } from './config.ts';

const SERVICE_NAME = 'gateway';
const config = loadConfigOrExit(SERVICE_NAME, loadConfig);
await runServiceProcess({
  name: SERVICE_NAME,
  config,
  busTimeoutMs: config.BUS_TIMEOUT_MS,
  build: ({ bus, redis, log }) => buildGateway({ settings: config, bus, sessions: new RedisSessionStore(redis), redis, logger: log }),
});
