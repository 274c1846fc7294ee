export { accepts, freePort } from './ports.ts';
export { NATS_SERVER_BIN, NatsServerProcess } from './nats-server.ts';
export { eventually, WAIT_MS, webhooksDelivered } from './eventually.ts';
export * from './redis-server.ts';
