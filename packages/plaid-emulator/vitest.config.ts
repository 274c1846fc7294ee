import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Tests wait for webhooks, which the emulator sends after answering: generous bounds, for a busy machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
