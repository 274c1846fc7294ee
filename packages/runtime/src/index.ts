export * from './env.ts';
export * from './logger.ts';
export * from './redis.ts';
export * from './shutdown.ts';
export * from './bus-service.ts';
export * from './service-process.ts';
export * from './standalone.ts';
