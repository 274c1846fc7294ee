import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseKeySet } from '../src/index.ts';

// Every case spawns node with tsx (and one npm with pnpm): seconds each on a busy machine.
const SPAWN_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 120_000;

const script = fileURLToPath(new URL('../src/generate-key.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'keys-generate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[] = [], env: NodeJS.ProcessEnv = {}, cwd?: string): Run {
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: SPAWN_TIMEOUT_MS,
    ...(cwd ? { cwd } : {}),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function generate(env: NodeJS.ProcessEnv = {}): string {
  const result = run([], env);
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

const modeOf = (file: string) => statSync(file).mode & 0o777;
let n = 0;
const fileName = () => join(dir, `keys-${++n}.json`);

describe('keys:generate', () => {
  it('prints a JWK Set with one new signing key', { timeout: TEST_TIMEOUT_MS }, () => {
    const set = parseKeySet(generate());
    expect(set.verifying).toHaveLength(1);
    expect(set.signing.privatePem).toContain('PRIVATE KEY');
  });

  it('puts a new key first and keeps the current ones (rotation), naming the current signing key', { timeout: TEST_TIMEOUT_MS }, () => {
    const current = generate();
    const old = parseKeySet(current).signing.kid;
    const result = run([], { JWT_PRIVATE_KEYS: current });
    expect(result.status, result.stderr).toBe(0);
    const rotated = parseKeySet(result.stdout);
    expect(rotated.verifying.map((k) => k.kid)).toEqual([rotated.signing.kid, old]);
    expect(rotated.signing.kid).not.toBe(old);
    expect(result.stderr).toContain(`Current signing key: kid=${old}`);
    expect(result.stderr).toContain(`JWT_SIGNING_KEY_ID=${old}`);
  });

  it('names the key JWT_SIGNING_KEY_ID selects as the current signing key', { timeout: TEST_TIMEOUT_MS }, () => {
    const two = generate({ JWT_PRIVATE_KEYS: generate() });
    const [first, second] = parseKeySet(two).verifying.map((k) => k.kid);
    const result = run([], { JWT_PRIVATE_KEYS: two, JWT_SIGNING_KEY_ID: second });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain(`Current signing key: kid=${second}`);
    expect(result.stderr).not.toContain(`Current signing key: kid=${first}`);
  });

  it('--out writes the set to a new file readable by its owner only, nothing on stdout', { timeout: TEST_TIMEOUT_MS }, () => {
    const file = fileName();
    const result = run(['--out', file]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect(modeOf(file)).toBe(0o600);
    const set = parseKeySet(readFileSync(file, 'utf8'));
    expect(result.stderr).toContain(`kid=${set.signing.kid}`);
  });

  it('--out refuses to overwrite a file that is not the set being rotated', { timeout: TEST_TIMEOUT_MS }, () => {
    const file = fileName();
    expect(run(['--out', file]).status).toBe(0);
    const before = readFileSync(file, 'utf8');

    const plain = run(['--out', file]);
    expect(plain.status).toBe(1);
    expect(plain.stderr).toMatch(/exists; not overwriting it/);
    // Rotating another set into this file would drop the keys it holds.
    const other = run(['--out', file], { JWT_PRIVATE_KEYS: generate() });
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/exists; not overwriting it/);

    const unrelated = fileName();
    writeFileSync(unrelated, 'my notes\n');
    expect(run(['--out', unrelated]).status).toBe(1);
    expect(readFileSync(unrelated, 'utf8')).toBe('my notes\n');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('--out rotates the set of that same file in place, keeping it private', { timeout: TEST_TIMEOUT_MS }, () => {
    const file = fileName();
    expect(run(['--out', file]).status).toBe(0);
    const old = parseKeySet(readFileSync(file, 'utf8')).signing.kid;
    // Formatting does not matter: the same keys are the same set.
    const current = JSON.stringify(JSON.parse(readFileSync(file, 'utf8')), null, 2);

    const result = run(['--out', file], { JWT_PRIVATE_KEYS: current });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    const rotated = parseKeySet(readFileSync(file, 'utf8'));
    expect(rotated.verifying.map((k) => k.kid)).toEqual([rotated.signing.kid, old]);
    expect(modeOf(file)).toBe(0o600);
    expect(result.stderr).toContain(`Current signing key: kid=${old}`);
  });

  it('refuses unknown arguments and a malformed current set with one message', { timeout: TEST_TIMEOUT_MS }, () => {
    const bogus = run(['--bogus']);
    expect(bogus.status).toBe(1);
    expect(bogus.stderr).toMatch(/^keys:generate: unknown argument "--bogus"\n/);
    expect(run(['--out']).stderr).toMatch(/--out needs a file name/);
    const malformed = run([], { JWT_PRIVATE_KEYS: '{"keys":[{"kty":"RSA"}]}' });
    expect(malformed.status).toBe(1);
    expect(malformed.stderr).toMatch(/^keys:generate: JWT_PRIVATE_KEYS key 1 is not an Ed25519 key/);
    expect(malformed.stdout).toBe('');
  });

  it('resolves a relative --out from where the command was typed (INIT_CWD)', { timeout: TEST_TIMEOUT_MS }, () => {
    const result = run(['--out', 'relative.json'], { INIT_CWD: dir }, fileURLToPath(new URL('..', import.meta.url)));
    expect(result.status, result.stderr).toBe(0);
    expect(parseKeySet(readFileSync(join(dir, 'relative.json'), 'utf8')).verifying).toHaveLength(1);
  });

  it('`npm run keys:generate -- --out <file>` at the repository root writes the key set and nothing else (no npm banner)', { timeout: TEST_TIMEOUT_MS }, () => {
    // What the README tells operators to type: npm's banner must not end up in the file.
    const file = fileName();
    const result = spawnSync('npm', ['run', 'keys:generate', '--', '--out', file], {
      cwd: repoRoot,
      // An operator's shell: none of the npm_*/pnpm_* variables of the test runner's own pnpm run
      // (with them, the inner pnpm looks for the script in this package, not the workspace).
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm|pnpm)_/i.test(name))), JWT_PRIVATE_KEYS: '' },
      encoding: 'utf8',
      timeout: TEST_TIMEOUT_MS - 10_000,
    });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(modeOf(file)).toBe(0o600);
    expect(parseKeySet(readFileSync(file, 'utf8')).verifying).toHaveLength(1);
  });
});
