// `npm run try`, the login walkthrough, against the embedded system as the suite starts it, and
// against a port nothing listens on.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/ports.ts';
import { startSystem, type System } from './support/system.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
// Generous: npm itself starts slowly on a busy machine, and signup waits for the first pull.
const RUN_MS = 120_000;

/**
 * Runs `npm run try -- …` as a developer would, without the npm_ and pnpm_ variables of the test
 * runner's own run. Asynchronously: the embedded system answering it lives in this process.
 */
function npmRunTry(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm|pnpm)_/i.test(name))), NO_COLOR: '1' };
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'try', '--', ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm run try did not finish within ${RUN_MS / 1000} s\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, RUN_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run try [embedded]', () => {
  let system: System;
  beforeAll(async () => {
    system = await startSystem('embedded');
  });
  afterAll(async () => {
    await system?.close();
  });

  it('with --yes logs in with the code from the outbox, calls protected and refresh, links the bank, sums it up and logs out', { timeout: RUN_MS + 10_000 }, async () => {
    const { code, stdout, stderr } = await npmRunTry(['--api', system.url, '--yes', '--phone', '+14155550123']);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stderr).toBe('');
    const outbox = (await (await fetch(`${system.twilioUrl}/outbox?to=%2B14155550123`)).json()) as { messages: Array<{ code: string }> };
    const sent = outbox.messages.at(-1)?.code;
    expect(sent).toMatch(/^\d{6}$/);
    const lines = [
      `Phone login walkthrough against ${system.url}`,
      '✔ code sent',
      `✔ code ${sent} read from the Twilio emulator's outbox (${system.url}/demo/outbox)`,
      '✔ logged in as +14155550123',
      '✔ This is a protected route (+14155550123)',
      '✔ new access and refresh tokens',
      '✔ linked First Platypus Bank',
      'Plaid Checking',
      'Plaid Saving',
      'Plaid Credit Card',
      '✔ 3 accounts, 300 transactions; last 30 days: $',
      '✔ logged out: the access token is refused now (401 TOKEN_REVOKED)',
      'Done.',
    ];
    let at = 0;
    for (const line of lines) {
      const found = stdout.indexOf(line, at);
      expect(found, `"${line}" (in order) in:\n${stdout}`).toBeGreaterThanOrEqual(0);
      at = found + line.length;
    }
    expect(stdout).not.toMatch(/\u001b\[/);
  });

  it('says in one line that the API is not running, and exits 1', { timeout: RUN_MS + 10_000 }, async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const { code, stdout, stderr } = await npmRunTry(['--api', url, '--yes']);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(1);
    expect(stderr).toBe(`✖ the API is not running at ${url} (ECONNREFUSED): start it with \`npm start\`, or pass --api <url>\n`);
    expect(stdout).not.toContain('Sending a code');
  });
});
