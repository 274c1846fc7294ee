// @ts-check
/**
 * The one build of every deployable (the services and the standalone emulators): esbuild bundles
 * `<dir>/src/server.ts` into `<dir>/dist/server.js` (ESM, node20, source map). The workspace's
 * @repo/* TypeScript sources and the npm packages are inlined, except EXTERNAL_PACKAGES: those stay
 * imports, resolved from the deployable's node_modules at run time. After bundling it refuses what
 * would only break at run time, from dist/ or in a `pnpm deploy --prod` install, or what would
 * bundle another copy of a package than the deployable's:
 * - inlined code (a source or an npm package's file) that locates files through its own path
 *   (import.meta.url, __dirname): from dist/ that path points elsewhere (import JSON instead;
 *   esbuild inlines it; or keep the npm package external);
 * - an npm package the bundle imports, or that a workspace source imports, that is not in the
 *   deployable's `dependencies`, or that resolves there to another copy than the one the importing
 *   code was written against.
 */
import { existsSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { keepSources } from './own-sources-map.mjs';

/**
 * npm packages that stay imports, resolved from the deployable's node_modules at run time, and why;
 * every other one is inlined like the workspace's sources. Loading a package from node_modules costs
 * a resolution, a read and a compile per file (for CommonJS imported from ESM also a scan for its
 * exports): a gateway spent about 600 ms of CPU loading its packages that way, and 220 ms loading
 * the same code as one bundle. A package whose code locates files through its own path (refused
 * below once inlined) or that loads much more than a start needs stays here.
 */
export const EXTERNAL_PACKAGES = {
  twilio: 'requires its hundreds of API modules lazily, on first use; inlined, every one of them would load at start',
  plaid: "its api.js (every endpoint, 9.7 MB) must not be bundled in; plaid-service imports the SDK's small modules",
  '@fastify/swagger': 'reads its package.json through __dirname',
  '@fastify/swagger-ui': 'serves its static files (the UI) from its own directory',
  ioredis: 'reads its package.json through __dirname',
  pino: 'runs its transports from worker files in its own directory',
  '@opentelemetry/sdk-trace': 'loaded only when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT)',
  '@opentelemetry/exporter-trace-otlp-http': 'loaded only when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT)',
  '@opentelemetry/resources': 'loaded only when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT)',
};

/** The packages of EXTERNAL_PACKAGES stay imports; every other bare specifier is bundled (the workspace's @repo/* included). */
const externalNpmPackages = {
  name: 'external-npm-packages',
  /** @param {esbuild.PluginBuild} build */
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => (packageName(args.path) in EXTERNAL_PACKAGES ? { path: args.path, external: true } : undefined));
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

/** The npm package a metafile input (a path relative to the deployable) belongs to, if it is in one. */
function npmPackageOf(input) {
  const at = input.lastIndexOf('node_modules/');
  return at === -1 ? undefined : packageName(input.slice(at + 'node_modules/'.length));
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
  // Which code imports which npm package (for the messages, and for the copy it resolves): every
  // external import, and the packages the workspace's sources import (inlined from their copy).
  const importers = new Map();
  const importedBySources = new Set();
  for (const [input, { imports }] of Object.entries(result.metafile.inputs)) {
    const file = join(root, input);
    const inPackage = npmPackageOf(input);
    if (SELF_LOCATING.test(readFileSync(file, 'utf8'))) {
      problems.push(
        inPackage
          ? `${relative(process.cwd(), file)} locates files from its own path (import.meta.url / __dirname), which is dist/ once bundled: add ${inPackage} to EXTERNAL_PACKAGES (packages/build)`
          : `${relative(process.cwd(), file)} locates files from its own path (import.meta.url / __dirname), which is dist/ once bundled: import the file (JSON is inlined) instead`,
      );
    }
    for (const imported of imports) {
      const specifier = imported.external ? imported.path : imported.original;
      if (!specifier || isBuiltin(specifier) || /^[./]/.test(specifier) || specifier.startsWith('@repo/')) continue;
      // An inlined package's own dependencies are its business, unless they stay imports.
      if (inPackage && !imported.external) continue;
      const name = packageName(specifier);
      if (!inPackage && !imported.external) importedBySources.add(name);
      importers.set(name, [...(importers.get(name) ?? []), file]);
    }
  }
  // What the output files import is what must be installed in production; what the sources import
  // is pinned by the deployable's manifest too, inlined or not.
  const needed = new Set([
    ...Object.values(result.metafile.outputs).flatMap(({ imports }) => imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => packageName(i.path))),
    ...importedBySources,
  ]);
  for (const name of needed) {
    const files = importers.get(name) ?? [];
    const by = files.map((f) => relative(process.cwd(), f)).join(', ');
    if (!(name in dependencies)) {
      problems.push(`${name} (imported by ${by}) is not in ${manifest.name}'s dependencies: a production install would not have it, or the bundle would inline an unpinned copy`);
      continue;
    }
    const got = packageDir(name, root);
    for (const file of files) {
      const wanted = packageDir(name, dirname(file));
      if (wanted !== got) problems.push(`${name}: ${manifest.name} resolves ${got ?? 'nothing'}, but ${relative(process.cwd(), file)} was written against ${wanted ?? 'nothing'}; align the versions`);
    }
  }
  const unused = Object.keys(dependencies).filter((name) => !needed.has(name));
  if (unused.length) console.warn(`${manifest.name}: dependencies neither the bundle nor the sources import (production installs them anyway): ${unused.join(', ')}`);
  if (problems.length) throw new Error(`${manifest.name}: the bundle would not run from dist/:\n  ${[...new Set(problems)].join('\n  ')}`);

  // Source maps of the deployable's own code only (see own-sources-map.mjs).
  for (const output of Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.map'))) {
    const file = join(root, output);
    writeFileSync(file, JSON.stringify(keepSources(JSON.parse(readFileSync(file, 'utf8')), (source) => !source.includes('node_modules/'))));
  }

  // One-byte JavaScript: V8 holds a module's source as a string for as long as the module lives,
  // and one character above U+00FF (esbuild escapes them in code, not in the comments it keeps)
  // makes it a two-byte string, twice the memory (the gateway's: 6 MB instead of 3). Each such
  // UTF-16 unit becomes '?', so every line and column of the source map still holds; only when
  // every one is on a comment line (a tagged template's raw text, say, must stay as it is).
  for (const output of Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'))) {
    const file = join(root, output);
    const text = readFileSync(file, 'utf8');
    const wide = text.split('\n').filter((line) => /[^\x00-\xff]/.test(line));
    if (wide.length > 0 && wide.every((line) => /^\s*(\*|\/\/|\/\*)/.test(line))) writeFileSync(file, text.replace(/[^\x00-\xff]/g, '?'));
  }

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
