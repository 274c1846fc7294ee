// The SDK-facing request client lives at `@repo/twilio-verify-emulator/request-client`, so that
// importing the emulator does not require the `twilio` package.
export { buildTwilioVerifyEmulator, type TwilioVerifyEmulatorOptions } from './app.ts';
export { startTwilioVerifyEmulator, type StartedTwilioVerifyEmulator } from './start.ts';
export type { TwilioCredentials } from './authenticate.ts';
export type { OutboxMessage } from './outbox.ts';
