import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseKeySet } from '../src/index.ts';

const script = fileURLToPath(new URL('../src/generate-key.ts', import.meta.url));
const generate = (env: NodeJS.ProcessEnv = {}) =>
  execFileSync(process.execPath, ['--import', 'tsx', script], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('keys:generate', () => {
  it('prints a JWK Set with one new signing key', () => {
    const set = parseKeySet(generate());
    expect(set.verifying).toHaveLength(1);
    expect(set.signing.privatePem).toContain('PRIVATE KEY');
  });

  it('puts a new key first and keeps the current ones (rotation)', () => {
    const current = generate();
    const rotated = parseKeySet(generate({ JWT_PRIVATE_KEYS: current }));
    const old = parseKeySet(current).signing.kid;
    expect(rotated.verifying.map((k) => k.kid)).toEqual([rotated.signing.kid, old]);
    expect(rotated.signing.kid).not.toBe(old);
  });
});
