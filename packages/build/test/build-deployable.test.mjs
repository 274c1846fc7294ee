// buildDeployable's output as Node holds it: one-byte source text, whatever characters the
// comments esbuild keeps carry, with the code and its source map unchanged.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDeployable } from '../src/index.mjs';

const dir = mkdtempSync(join(tmpdir(), 'build-deployable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('buildDeployable', () => {
  it('writes JavaScript with no character above U+00FF, strings and positions intact', async () => {
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fixture', type: 'module', dependencies: {} }));
    // A method's JSDoc comment (esbuild keeps those) with an en dash, an em dash and an astral character.
    writeFileSync(
      join(dir, 'src/server.ts'),
      "class Dashes {\n  /**\n   * Bits 64–71 — reserved 😀\n   */\n  dash(): string {\n    return 'a—b😀';\n  }\n}\nexport const dash = () => new Dashes().dash();\nexport const where = () => new Error('here').stack;\n",
    );
    await buildDeployable(dir);
    const js = readFileSync(join(dir, 'dist/server.js'), 'utf8');
    expect(js).toContain('Bits 64?71 ? reserved ??');
    expect(/[^\x00-\xff]/.test(js)).toBe(false);
    const built = await import(pathToFileURL(join(dir, 'dist/server.js')).href);
    expect(built.dash()).toBe('a—b😀');
    // The map still points at the source line of the code (Node resolves it with --enable-source-maps).
    const map = JSON.parse(readFileSync(join(dir, 'dist/server.js.map'), 'utf8'));
    expect(map.sources.some((s) => s.endsWith('src/server.ts'))).toBe(true);
    const line = js.split('\n').findIndex((l) => l.includes("new Error(\"here\")") || l.includes("new Error('here')"));
    expect(line).toBeGreaterThan(0);
  }, 60_000);

  it('leaves the text as it is when such a character is in code (a tagged template keeps its raw text)', async () => {
    writeFileSync(join(dir, 'src/server.ts'), "/**\n * A dash — here\n */\nexport const raw = String.raw`a—b`;\n");
    await buildDeployable(dir);
    const built = await import(`${pathToFileURL(join(dir, 'dist/server.js')).href}?again`);
    expect(built.raw).toBe('a—b');
  }, 60_000);
});
