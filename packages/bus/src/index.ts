export * from './bus.ts';
export { NatsBus, type NatsBusOptions } from './nats-bus.ts';
export { defaultInboxPrefix, type NatsAuth, type NatsTls } from './nats-connection.ts';
export { InProcessBus, type InProcessBusOptions } from './in-process-bus.ts';
export { DEADLINE_MARGIN_MS, handlerDeadline } from './budget.ts';
export { assertMatches } from './validation.ts';
