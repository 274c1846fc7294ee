#!/usr/bin/env node
// Lets `npm start` / `npm test` work on a machine with only Node and npm: installs the pnpm
// version pinned in package.json's packageManager if it is missing, installs the workspace from
// the lockfile, then runs `pnpm <args>`.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1' };

function installedVersion() {
  try {
    return execFileSync('pnpm', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function run(cmd, args) {
  const result = spawnSync(cmd, args, { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

let pnpm = ['pnpm'];
if (installedVersion() !== pinned) {
  console.error(`> installing pnpm@${pinned} (pinned in package.json)`);
  const global = spawnSync('npm', ['install', '-g', `pnpm@${pinned}`], { env, stdio: 'inherit' });
  // No rights to install globally: run the pinned version through npx instead.
  if (global.status !== 0 || installedVersion() !== pinned) pnpm = ['npx', '--yes', `pnpm@${pinned}`];
}
const [cmd, ...pre] = pnpm;
run(cmd, [...pre, 'install', '--frozen-lockfile', '--prefer-offline', '--reporter=silent']);
run(cmd, [...pre, ...process.argv.slice(2)]);
