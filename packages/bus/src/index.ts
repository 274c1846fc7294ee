export * from './bus.ts';
export { NatsBus, type NatsBusOptions } from './nats-bus.ts';
export { InProcessBus } from './in-process-bus.ts';
export { assertMatches } from './validation.ts';
