import { defineConfig } from 'vitest/config';

// The tests build the services' bundles and run docker-compose, on a machine that may be busy
// with another test run: vitest's defaults (5 s per test, 10 s per hook) are too tight for that.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
