import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenCipher } from '../src/token-cipher.ts';

const TOKEN = 'access-sandbox-8ab976e6-64bc-4b38-98f7-731e7a349970';

describe('TokenCipher', () => {
  const cipher = new TokenCipher(randomBytes(32));

  it('round-trips, with a fresh IV every time and nothing of the token in clear', () => {
    const a = cipher.encrypt(TOKEN, 'item-1');
    const b = cipher.encrypt(TOKEN, 'item-1');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    expect(a).not.toContain('sandbox');
    expect(cipher.decrypt(a, 'item-1')).toBe(TOKEN);
  });

  it('refuses another key, another item, a tampered ciphertext and an unknown version', () => {
    const sealed = cipher.encrypt(TOKEN, 'item-1');
    expect(() => new TokenCipher(randomBytes(32)).decrypt(sealed, 'item-1')).toThrow();
    expect(() => cipher.decrypt(sealed, 'item-2')).toThrow();
    const [v, iv, tag, ct] = sealed.split('.');
    const flipped = Buffer.from(ct!, 'base64url');
    flipped[0]! ^= 1;
    expect(() => cipher.decrypt([v, iv, tag, flipped.toString('base64url')].join('.'), 'item-1')).toThrow();
    expect(() => cipher.decrypt(sealed.replace(/^v1/, 'v9'), 'item-1')).toThrow(/format/);
  });
});
