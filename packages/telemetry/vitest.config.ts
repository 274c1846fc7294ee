import { defineConfig } from 'vitest/config';

// Some tests here start processes (nats-server, tsx) or real servers, and the machine may be busy
// with another test run: vitest's defaults (5 s per test, 10 s per hook) are too tight for that.
// The waits inside the tests have their own bounds and messages; these only stop a hung test.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
