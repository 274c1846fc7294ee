#!/usr/bin/env node
// `npm start`: installs what is missing (as scripts/pnpm.mjs), then runs the embedded system
// (services/embedded/src/main.ts) with Node directly rather than through `pnpm --filter`, so
// Ctrl-C is a graceful stop that exits 0, without pnpm's ELIFECYCLE lines.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { env, installWorkspace, pinnedPnpm, root } from './workspace.mjs';

installWorkspace(pinnedPnpm());

// Its own process group: the terminal's Ctrl-C reaches this script and npm, not the system
// directly, and the system gets the signal exactly once, from here (a second one would make it
// give up its graceful stop).
const system = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...process.argv.slice(2)], {
  cwd: join(root, 'services/embedded'),
  env,
  stdio: 'inherit',
  detached: true,
});
let forwarded = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (forwarded) return;
    forwarded = true;
    system.kill(signal);
  });
}
system.on('exit', (code, signal) => {
  // Stopped by a signal we forwarded after its graceful stop: a normal end.
  process.exit(code ?? (forwarded ? 0 : signal === 'SIGKILL' ? 137 : 1));
});
