#!/usr/bin/env node
// Lets `npm test` and the other root scripts work on a machine with only Node and npm: installs
// the pinned pnpm if it is missing, installs the workspace from the lockfile, then runs `pnpm <args>`.
import { installWorkspace, pinnedPnpm, run } from './workspace.mjs';

const pnpm = pinnedPnpm();
installWorkspace(pnpm);
const [cmd, ...pre] = pnpm;
run(cmd, [...pre, ...process.argv.slice(2)]);
