// The repository stands alone: nothing in it points at documents outside it (its design notes and
// API contract are in docs/), and it carries its licence.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SKIP = new Set(['node_modules', '.git', 'dist', '.turbo', 'coverage', 'results']);
// Spelled in pieces so this file does not match itself.
const OUTSIDE = new RegExp(`${['DESIGN', 'STYLE'].map((name) => `${name}\\.md`).join('|')}|\\.\\./${'shared'}`);

function* files(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile() && statSync(path).size < 5_000_000) yield path;
  }
}

describe('the repository stands alone', () => {
  it('no file refers to documents outside the repository', () => {
    const hits: string[] = [];
    let scanned = 0;
    for (const file of files(root)) {
      const text = readFileSync(file, 'utf8');
      if (text.includes('\u0000')) continue; // binary
      scanned += 1;
      text.split('\n').forEach((line, i) => {
        if (OUTSIDE.test(line)) hits.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(scanned).toBeGreaterThan(100);
    expect(hits).toEqual([]);
  });

  it('the scan finds such a reference (it can fail)', () => {
    expect(OUTSIDE.test(`see ${'DESIGN'}.md`)).toBe(true);
    expect(OUTSIDE.test(`../${'shared'}/notes`)).toBe(true);
    expect(OUTSIDE.test('see docs/design.md')).toBe(false);
  });

  it('has the API contract and design notes in docs/, an MIT licence and says so', () => {
    expect(readFileSync(join(root, 'docs/api.md'), 'utf8')).toContain('POST /api/auth/verify-code');
    expect(readFileSync(join(root, 'docs/design.md'), 'utf8')).toContain('token.pair.issue');
    const licence = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(licence).toMatch(/^MIT License\n\nCopyright \(c\) 2026 Phone login contributors\n/);
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).license).toBe('MIT');
  });
});
