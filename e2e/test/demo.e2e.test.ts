// The /demo page in a real browser: Debian's Chromium (no browser download), driven by
// playwright-core, against the embedded system. Every step of the page is checked, and a
// screenshot of the end state is saved to e2e/artifacts/demo.png.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from './support/system.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const available = existsSync(CHROMIUM);
// CI (.ci/run installs chromium) must not skip this silently.
if (!available && process.env.E2E_REQUIRE_DISTRIBUTED === '1') {
  throw new Error(`the demo page test needs Chromium at ${CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it), or CHROMIUM_PATH set to one`);
}
// Generous: a busy machine, and signup waits for the emulator's first transactions pull (3 s).
const STEP_MS = 60_000;

(available ? describe : describe.skip)(`the demo page in Chromium [embedded]${available ? '' : ` (skipped: no Chromium at ${CHROMIUM})`}`, () => {
  let system: System;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    system = await startSystem('embedded');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // As root (CI containers) Chromium refuses to start with its sandbox.
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
      timeout: STEP_MS,
    });
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.setDefaultTimeout(STEP_MS);
    // A CSP violation or a script error shows up here.
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`${res.status()} ${res.request().method()} ${res.url()}`);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await system?.close();
  });

  it('logs in with the code from the emulator outbox, links the sandbox bank, shows accounts, transactions and a chart, and logs out', { timeout: 240_000 }, async () => {
    const response = await page.goto(`${system.url}/demo`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.locator('body[data-ready="true"]').waitFor();
    await expect.poll(() => page.locator('#status').textContent()).toContain('read from the Twilio emulator');

    // Phone number -> code shown (read from the emulator's outbox) and filled in.
    await page.fill('#phone', '+1 415 555 2671');
    await page.click('#send-code');
    const hint = page.locator('#code-hint');
    await hint.waitFor({ state: 'visible' });
    const shown = await hint.locator('strong').textContent();
    expect(shown).toMatch(/^\d{6}$/);
    const outbox = (await (await fetch(`${system.twilioUrl}/outbox?to=%2B14155552671`)).json()) as { messages: Array<{ code: string }> };
    expect(shown).toBe(outbox.messages.at(-1)?.code);
    expect(await page.inputValue('#code')).toBe(shown);

    // Verify -> logged in (the protected route answered with the number).
    await page.click('#verify');
    await page.locator('#step-session').waitFor({ state: 'visible' });
    expect(await page.locator('#who').textContent()).toBe('+14155552671');
    expect(await page.locator('#status').textContent()).toContain('Logged in as +14155552671');

    // Link the sandbox bank -> accounts, transactions rows, chart.
    await page.click('#link-bank');
    await page.locator('#step-bank').waitFor({ state: 'visible' });
    const accounts = await page.locator('#accounts li').allTextContents();
    expect(accounts).toHaveLength(3);
    expect(accounts.join(' ')).toMatch(/Plaid Checking.*Plaid Saving.*Plaid Credit Card/s);
    const rows = page.locator('#transactions tbody tr');
    expect(await rows.count()).toBe(50);
    const first = await rows.first().locator('td').allTextContents();
    expect(first[0]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(first[3]).toMatch(/\$[\d,]+\.\d{2}/);
    expect(await page.locator('#tx-count').textContent()).toBe('(50 newest of 300)');
    const bars = page.locator('#chart svg rect.bar');
    expect(await bars.count()).toBe(12);
    const heights = (await bars.evaluateAll((els) => els.map((el) => Number(el.getAttribute('height'))))) as number[];
    expect(Math.max(...heights)).toBeGreaterThan(100);
    expect(heights.every((h) => h > 0)).toBe(true);
    expect(await page.locator('#status').textContent()).toMatch(/^Linked First Platypus Bank: 3 accounts, 300 transactions\.$/);

    expect(await page.locator('#link-bank').isHidden()).toBe(true);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}demo.png`, fullPage: true });

    // Log out -> the session is over: the page's access token no longer works.
    // The token lives in the page's memory only: it is read off the logout request.
    const logout = page.waitForResponse((r) => r.url().endsWith('/api/auth/logout'));
    await page.click('#logout');
    const logoutRes = await logout;
    expect(logoutRes.status()).toBe(200);
    const token = (await logoutRes.request().headerValue('authorization'))?.replace(/^Bearer /, '');
    await page.locator('#logged-out').waitFor({ state: 'visible' });
    expect(await page.locator('#step-session').isHidden()).toBe(true);
    const after = await fetch(`${system.url}/api/auth/protected`, { headers: { authorization: `Bearer ${token}` } });
    expect(after.status).toBe(401);

    // No script error, CSP violation or failed request along the way.
    expect(problems).toEqual([]);
  });
});
