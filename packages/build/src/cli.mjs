#!/usr/bin/env node
// `build-service [dir…]` (default: the current directory): each deployable's `build` script.
import { buildDeployable } from './index.mjs';

const dirs = process.argv.slice(2);
for (const dir of dirs.length ? dirs : ['.']) {
  try {
    const { name, outputs, ms } = await buildDeployable(dir);
    console.log(`${name}: ${outputs.filter((f) => f.endsWith('.js')).join(', ')} in ${ms} ms`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
