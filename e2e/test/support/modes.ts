import { describe } from 'vitest';
import { distributedDepsAvailable, type Mode } from './system.ts';

/**
 * The run modes the suite covers. The distributed mode needs nats-server and Redis; without them it is
 * skipped, unless E2E_REQUIRE_DISTRIBUTED=1 (as in CI), where their absence fails the run.
 */
export async function modes(): Promise<Array<{ mode: Mode; skip: boolean }>> {
  const available = await distributedDepsAvailable();
  if (!available && process.env.E2E_REQUIRE_DISTRIBUTED === '1') {
    throw new Error('E2E_REQUIRE_DISTRIBUTED=1 but nats-server (NATS_SERVER_BIN) is missing or Redis (REDIS_URL) does not answer');
  }
  return [
    { mode: 'embedded', skip: false },
    { mode: 'distributed', skip: !available },
  ];
}

export async function describeEachMode(name: string, fn: (mode: Mode) => void): Promise<void> {
  for (const { mode, skip } of await modes()) {
    (skip ? describe.skip : describe)(`${name} [${mode}]`, () => fn(mode));
  }
}
