import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Tests wait for the Plaid emulator's webhooks, sent after it answered: generous bounds, for a busy machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
