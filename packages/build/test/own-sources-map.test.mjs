// keepSources: a bundle's map keeps its own sources' mappings exactly and maps nothing of the
// dropped ones (not even to the closest own segment before them, which is how Node looks a position up).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { keepSources } from '../src/own-sources-map.mjs';

const dir = mkdtempSync(join(tmpdir(), 'own-sources-map-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A bundle of our code, a package's, and ours again (ES modules are laid out in import order). */
async function bundle() {
  mkdirSync(join(dir, 'node_modules/dep'), { recursive: true });
  writeFileSync(join(dir, 'node_modules/dep/package.json'), JSON.stringify({ name: 'dep', type: 'module', main: 'index.js' }));
  writeFileSync(join(dir, 'node_modules/dep/index.js'), 'export function twice(f) {\n  const a = f(1);\n  const b = f(2);\n  return [a, b];\n}\n');
  writeFileSync(join(dir, 'helper.ts'), 'export function helper(n: number): number {\n  if (n > 1) throw new Error(`too big: ${n}`);\n  return n * 2;\n}\n');
  writeFileSync(join(dir, 'main.ts'), "import { helper } from './helper.ts';\nimport { twice } from 'dep';\n\nexport const result = twice((n: number) => {\n  const doubled = helper(n);\n  return doubled + 1;\n});\n");
  const out = await esbuild.build({ absWorkingDir: dir, entryPoints: ['main.ts'], bundle: true, format: 'esm', platform: 'node', sourcemap: 'external', outdir: 'out', write: false });
  const text = (suffix) => out.outputFiles.find((f) => f.path.endsWith(suffix)).text;
  return { js: text('.js'), map: JSON.parse(text('.js.map')) };
}

describe('keepSources', () => {
  it('maps every position of the kept sources as before, and none of the others', async () => {
    const { js, map } = await bundle();
    const cut = keepSources(map, (source) => !source.includes('node_modules/'));
    expect(cut.sources).toEqual(map.sources.filter((s) => !s.includes('node_modules/')));
    expect(cut.sourcesContent).toHaveLength(cut.sources.length);
    const before = new SourceMap(map);
    const after = new SourceMap(cut);
    let own = 0;
    let dropped = 0;
    js.split('\n').forEach((text, line) => {
      for (let column = 0; column <= text.length; column++) {
        const was = before.findEntry(line, column);
        const is = after.findEntry(line, column);
        if (was.originalSource && !was.originalSource.includes('node_modules/')) {
          own++;
          expect(is, `${line}:${column}`).toEqual(was);
        } else {
          if (was.originalSource) dropped++;
          expect(is.originalSource, `${line}:${column} maps ${JSON.stringify(is)}`).toBeUndefined();
        }
      }
    });
    expect(own).toBeGreaterThan(50);
    expect(dropped).toBeGreaterThan(50);
  });

  it('keeps a map whose sources are all kept unchanged', async () => {
    const { map } = await bundle();
    expect(keepSources(map, () => true)).toEqual(map);
  });
});
