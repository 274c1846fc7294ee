export * from './session-store.ts';
export { RedisSessionStore } from './redis-session-store.ts';
export { MemorySessionStore } from './memory-session-store.ts';
export * from './verification-log.ts';
export { ExpiringMap } from './expiring-map.ts';
export { guardRedis, throwOnMultiError } from './redis-errors.ts';
export { keys } from './keys.ts';
export * from './plaid-store.ts';
export * from './webhook-replay-store.ts';
