// The SDK-facing request client lives at `@repo/twilio-verify-emulator/request-client`, so that
// importing the emulator does not require the `twilio` package.
export { buildTwilioVerifyEmulator, DEFAULT_SERVICE_SID, type TwilioVerifyEmulatorOptions } from './app.ts';
export type { Operation, QueuedFailure, RefusalRules } from './refusals.ts';
export { TWILIO_REFUSALS, type TwilioRefusalCode } from './twilio-errors.ts';
export { startTwilioVerifyEmulator, type StartedTwilioVerifyEmulator } from './start.ts';
export type { TwilioCredentials } from './authenticate.ts';
export type { OutboxMessage } from './outbox.ts';
