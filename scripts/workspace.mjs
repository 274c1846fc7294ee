// What `npm start` / `npm test` need on a machine with only Node and npm: the pnpm version pinned
// in package.json's packageManager (installed if missing) and the workspace installed from the
// lockfile.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1' };
const pinned = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];

function installedVersion() {
  try {
    return execFileSync('pnpm', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Runs a command in the repository; exits with its status if it fails. */
export function run(cmd, args) {
  const result = spawnSync(cmd, args, { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** The command that runs the pinned pnpm (installed first if missing), e.g. ['pnpm']. */
export function pinnedPnpm() {
  if (installedVersion() === pinned) return ['pnpm'];
  console.error(`> installing pnpm@${pinned} (pinned in package.json)`);
  const global = spawnSync('npm', ['install', '-g', `pnpm@${pinned}`], { env, stdio: 'inherit' });
  // No rights to install globally: run the pinned version through npx instead.
  if (global.status !== 0 || installedVersion() !== pinned) return ['npx', '--yes', `pnpm@${pinned}`];
  return ['pnpm'];
}

/** Installs the workspace from the lockfile (quick and silent when it already is). */
export function installWorkspace(pnpm) {
  const [cmd, ...pre] = pnpm;
  run(cmd, [...pre, 'install', '--frozen-lockfile', '--prefer-offline', '--reporter=silent']);
}
