import { defineConfig } from 'vitest/config';

// The fault suites: fault injection (its own nats-server and redis-server, two replicas of
// auth-service and token-service, a minute or two of load) and the cluster failover (3 NATS nodes,
// Redis behind Sentinel). Part of `npm test` (the e2e package's `test` script runs them after the
// end-to-end suites); alone: `pnpm --filter @repo/e2e test:faults`.
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
