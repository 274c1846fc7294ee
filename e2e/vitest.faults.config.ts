import { defineConfig } from 'vitest/config';

// The fault-injection suite (`pnpm --filter @repo/e2e test:faults`): its own NATS and Redis,
// several replicas per service, minutes of load. Not part of the default run.
export default defineConfig({
  test: {
    // Builds every service's dist/server.js first: the distributed runs spawn those.
    globalSetup: ['test/support/deployables.ts'],
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
