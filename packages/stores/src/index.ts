export * from './session-store.ts';
export * from './verification-log.ts';
export * from './verification-limits.ts';
export { RedisVerificationLimits } from './redis-verification-limits.ts';
export { MemoryVerificationLimits } from './memory-verification-limits.ts';
export { ExpiringMap } from './expiring-map.ts';
export { guardRedis } from './redis-errors.ts';
export { keys } from './keys.ts';
export * from './plaid-store.ts';
