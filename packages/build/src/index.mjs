// @ts-check
/**
 * The one build of every deployable (the services and the standalone emulators): esbuild bundles
 * `<dir>/src/server.ts` into `<dir>/dist/server.js` (ESM, node20, source map). The workspace's
 * @repo/* TypeScript sources are inlined; every npm package stays an import, resolved from the
 * deployable's node_modules at run time. After bundling it refuses what would only break at run
 * time, from dist/ or in a `pnpm deploy --prod` install:
 * - an inlined source that locates files through its own path (import.meta.url, __dirname): from
 *   dist/ that path points elsewhere (import JSON instead; esbuild inlines it);
 * - an npm package the bundle imports that is not in the deployable's `dependencies`, or that
 *   resolves there to another copy than the one the inlined source was written against.
 */
import { existsSync, readFileSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import * as esbuild from 'esbuild';

/** Bare specifiers are npm packages (external), except the workspace's own @repo/* (inlined). */
const externalNpmPackages = {
  name: 'external-npm-packages',
  /** @param {esbuild.PluginBuild} build */
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@repo/') ? undefined : { path: args.path, external: true }));
  },
};

// Inlined code is ESM, but should anything in it call require(), esbuild's shim needs a real one.
const banner = "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);";

const SELF_LOCATING = /\bimport\.meta\.(?:url|dirname|filename)\b|\b__dirname\b|\b__filename\b/;

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The directory Node would load `name` from, for a file in `fromDir` (node_modules lookup, symlinks resolved). */
function packageDir(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return realpathSync(dirname(candidate));
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Builds one deployable. `dir`: its package directory (absolute, or relative to the working directory).
 * @param {string} dir
 * @returns {Promise<{ name: string; outputs: string[]; ms: number }>}
 */
export async function buildDeployable(dir) {
  const started = performance.now();
  const root = resolve(dir);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { server: 'src/server.ts' },
    outdir: 'dist',
    // Code loaded only by a dynamic import() gets its own chunk, loaded only when that import runs.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    banner: { js: banner },
    plugins: [externalNpmPackages],
    metafile: true,
    logLevel: 'warning',
  });

  const problems = [];
  const dependencies = manifest.dependencies ?? {};
  // Which source imports which npm package (for the messages, and for the copy it resolves).
  const importers = new Map();
  for (const [input, { imports }] of Object.entries(result.metafile.inputs)) {
    const file = join(root, input);
    if (SELF_LOCATING.test(readFileSync(file, 'utf8'))) {
      problems.push(`${relative(process.cwd(), file)} locates files from its own path (import.meta.url / __dirname), which is dist/ once bundled: import the file (JSON is inlined) instead`);
    }
    for (const imported of imports) {
      if (!imported.external || isBuiltin(imported.path)) continue;
      const name = packageName(imported.path);
      importers.set(name, [...(importers.get(name) ?? []), file]);
    }
  }
  // What the output files import is what must be installed in production.
  const needed = new Set(
    Object.values(result.metafile.outputs).flatMap(({ imports }) => imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => packageName(i.path))),
  );
  for (const name of needed) {
    const files = importers.get(name) ?? [];
    const by = files.map((f) => relative(process.cwd(), f)).join(', ');
    if (!(name in dependencies)) {
      problems.push(`${name} (imported by ${by}) is not in ${manifest.name}'s dependencies: a production install would not have it`);
      continue;
    }
    const got = packageDir(name, root);
    for (const file of files) {
      const wanted = packageDir(name, dirname(file));
      if (wanted !== got) problems.push(`${name}: ${manifest.name} resolves ${got ?? 'nothing'}, but ${relative(process.cwd(), file)} was written against ${wanted ?? 'nothing'}; align the versions`);
    }
  }
  const unused = Object.keys(dependencies).filter((name) => !needed.has(name));
  if (unused.length) console.warn(`${manifest.name}: dependencies the bundle does not import (production installs them anyway): ${unused.join(', ')}`);
  if (problems.length) throw new Error(`${manifest.name}: the bundle would not run from dist/:\n  ${[...new Set(problems)].join('\n  ')}`);

  // Drop what an earlier build left (e.g. a chunk whose hash changed); only after the new files are there.
  const outputs = new Set(Object.keys(result.metafile.outputs).map((f) => join(root, f)));
  const sweep = (d) => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) sweep(path);
      else if (!outputs.has(path)) rmSync(path);
    }
  };
  sweep(join(root, 'dist'));
  return { name: manifest.name, outputs: [...outputs].map((f) => relative(root, f)), ms: Math.round(performance.now() - started) };
}
