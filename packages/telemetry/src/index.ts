export * from './trace-context.ts';
export * from './tracing.ts';
export * from './metrics.ts';
export * from './http.ts';
