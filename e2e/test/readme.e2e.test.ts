// The README's walk-throughs run as written: its ```bash try-it* blocks, in order, with bash
// against the embedded system (the `npm start` defaults: one code a minute per number, the
// default rate limits), only its addresses swapped for the ports this run got.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from './support/system.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const SCRIPT_TIMEOUT_MS = 90_000;

/** The fenced blocks whose info string is `bash <name>`, by name, in README order. */
export function walkThroughBlocks(markdown: string): Array<{ name: string; body: string }> {
  return [...markdown.matchAll(/^```bash (try-it[\w-]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ name: m[1]!, body: m[2]! }));
}

/** The blocks as one bash script that stops at the first failing command. */
function script(system: { url: string; twilioUrl: string }): string {
  const body = walkThroughBlocks(README)
    .map((b) => `# --- ${b.name}\n${b.body}`)
    .join('\n');
  expect(body, 'the walk-through uses the documented gateway URL').toContain('http://127.0.0.1:3000');
  expect(body, 'the walk-through uses the documented outbox URL').toContain('http://127.0.0.1:3010');
  const ported = body.replaceAll('http://127.0.0.1:3000', system.url).replaceAll('http://127.0.0.1:3010', system.twilioUrl);
  return `set -euo pipefail\n${ported}`;
}

/** Runs bash with the test runner's npm_/pnpm_ variables stripped, as a user's shell would be. */
function bash(source: string): Promise<{ code: number | null; out: string; err: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm|pnpm)_/i.test(k)));
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', source], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), SCRIPT_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe('the README walk-throughs', () => {
  let system: System;

  beforeAll(async () => {
    system = await startSystem('embedded', {
      SMS_MIN_INTERVAL_SECONDS: '60',
      RATE_LIMIT_PER_IP_PER_MINUTE: '120',
      SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: '30',
    });
  });
  afterAll(async () => {
    await system?.close();
  });

  it('has the Try it and the Plaid blocks', () => {
    expect(walkThroughBlocks(README).map((b) => b.name)).toEqual(['try-it', 'try-it-plaid']);
  });

  it('runs them as written: exit 0 and the answers the README shows', async () => {
    const { code, out, err } = await bash(script(system));
    expect({ code, err }, out).toEqual({ code: 0, err: '' });
    const expected = [
      '{"message":"Verification code sent successfully","status":"pending"}',
      '"authenticated":true',
      '{"message":"This is a protected route","phone_number":"+14155552671"}',
      '"token_type":"Bearer"',
      '{"message":"Successfully logged out"}',
      '"code":"TOKEN_REVOKED"',
      '{"message":"Verification code sent successfully","status":"pending"}',
      '"institution_name":"First Platypus Bank"',
      ' transactions, newest: ',
      'Plaid Checking, Plaid Saving, Plaid Credit Card',
      '"removed":true',
      '{"message":"Successfully logged out from all devices for +14155550123"}',
    ];
    // In this order: each answer after the one before.
    let at = 0;
    for (const fragment of expected) {
      const found = out.indexOf(fragment, at);
      expect(found, `"${fragment}" after position ${at} in:\n${out}`).toBeGreaterThanOrEqual(0);
      at = found + fragment.length;
    }
    // The dates are today's: a fixed range would find nothing once the data moved past it.
    expect(out).toMatch(/\b([1-9]\d*) transactions, newest: \d{4}-\d{2}-\d{2} /);
  }, 2 * SCRIPT_TIMEOUT_MS);

  it('fails when a step fails (so a broken block cannot pass)', async () => {
    // The gateway "moved": the first curl cannot connect and the script stops there.
    const broken = script({ url: 'http://127.0.0.1:1', twilioUrl: system.twilioUrl });
    const { code, out } = await bash(broken);
    expect(code).not.toBe(0);
    expect(out).not.toContain('This is a protected route');
  }, 2 * SCRIPT_TIMEOUT_MS);
});
