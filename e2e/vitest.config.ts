import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Builds every service's dist/server.js first: the distributed runs spawn those.
    globalSetup: ['test/support/deployables.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // The suites start real processes and share this machine's NATS and Redis: one file at a time.
    fileParallelism: false,
    // The fault-injection suite has its own config (vitest.faults.config.ts); `test` runs it after these.
    exclude: [...configDefaults.exclude, 'test/faults/**'],
  },
});
