// The distributed mode runs what production runs: each service's and emulator's compiled
// dist/server.js. Every run builds them first (esbuild, well under a second for all of them), so a
// process is never started from a dist/ older than the sources. vitest runs this as globalSetup;
// the benchmark calls it itself.
import { fileURLToPath } from 'node:url';
import { buildDeployable } from '@repo/build';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The directories (from the repo root) of what the distributed mode spawns. */
export const DEPLOYABLES = [
  'services/gateway',
  'services/auth-service',
  'services/token-service',
  'services/plaid-service',
  'packages/twilio-verify-emulator',
  'packages/plaid-emulator',
] as const;

/**
 * How each is started from its package directory: its `start` script, the production command.
 * A young generation of 8 MB semi-spaces (V8's default grows to 16 MB) keeps a loaded service
 * about 40 MB smaller; request garbage is short-lived, so the extra scavenges are cheap.
 */
export const SERVICE_COMMAND = ['--enable-source-maps', '--max-semi-space-size=8', 'dist/server.js'];

export async function buildDeployables(): Promise<void> {
  await Promise.all(DEPLOYABLES.map((dir) => buildDeployable(`${repoRoot}${dir}`)));
}

export default buildDeployables;
