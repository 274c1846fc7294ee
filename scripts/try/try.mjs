#!/usr/bin/env node
// @ts-check
// `npm run try`: a login walkthrough against a running API (`npm start` by default). Sends a code,
// reads it from the Twilio Verify emulator's outbox when the emulator is in use (asks for it
// otherwise), then calls protected, refresh, optionally links the Plaid sandbox bank and sums up
// its accounts and transactions, and logs out. Plain Node (no packages), so it runs before any
// install.
import { createInterface } from 'node:readline/promises';
import { parseArgs, styleText } from 'node:util';

const DEFAULT_API = 'http://127.0.0.1:3000';
const DEFAULT_PHONE = '+14155552671';
const TIMEOUT_MS = 15_000;
const USAGE = `Usage: npm run try -- [options]

  --api <url>      the gateway (default ${DEFAULT_API}, where \`npm start\` listens)
  --phone <E.164>  the phone number (default ${DEFAULT_PHONE}; asked for unless --yes)
  --outbox <url>   the Twilio Verify emulator's outbox, e.g. http://127.0.0.1:3010/outbox
                   (default: the gateway's /demo/outbox when the embedded emulator is in use)
  --yes, -y        no questions: the default number, the code from the outbox, link the bank
  --help, -h       this text`;

/** Colours only on a terminal, and never with NO_COLOR. */
const coloured = process.stdout.isTTY === true && !process.env.NO_COLOR;
/** @param {Parameters<typeof styleText>[0]} style @param {string} text */
const paint = (style, text) => (coloured && typeof styleText === 'function' ? styleText(style, text) : text);
const say = (/** @type {string} */ line = '') => process.stdout.write(`${line}\n`);
const step = (/** @type {string} */ text) => say(`${paint('cyan', '›')} ${text}`);
const ok = (/** @type {string} */ text) => say(`  ${paint('green', '✔')} ${text}`);
const info = (/** @type {string} */ text) => say(`    ${paint('dim', text)}`);

class Failure extends Error {}

/** @returns {never} */
function fail(/** @type {string} */ message) {
  throw new Failure(message);
}

let args;
try {
  args = parseArgs({
    options: {
      api: { type: 'string' },
      phone: { type: 'string' },
      outbox: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  process.stderr.write(`${paint('red', '✖')} ${/** @type {Error} */ (err).message}\n\n${USAGE}\n`);
  process.exit(1);
}
if (args.help) {
  say(USAGE);
  process.exit(0);
}
const api = (args.api ?? process.env.API_URL ?? DEFAULT_API).replace(/\/+$/, '');
const yes = args.yes === true;
const rl = yes ? undefined : createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
// Lines are read through the iterator, which buffers them: answers piped in all at once are not lost.
const lines = rl?.[Symbol.asyncIterator]();

/** Asks, with a default taken on an empty answer (or at the end of the input); with --yes the default at once. */
async function ask(/** @type {string} */ question, /** @type {string} */ fallback = '') {
  if (!lines) return fallback;
  process.stdout.write(`  ${question}${fallback ? paint('dim', ` (${fallback})`) : ''}: `);
  const { value, done } = await lines.next();
  if (!process.stdin.isTTY) process.stdout.write('\n');
  const answer = done ? '' : String(value).trim();
  if (!answer && !fallback) fail(`no answer to "${question}"`);
  return answer || fallback;
}

/**
 * Calls the API; answers `{status, body}`. A 4xx/5xx (other than those `allow`ed) stops the
 * walkthrough with the API's code and message.
 * @param {string} method @param {string} path
 * @param {{ body?: unknown, token?: string, allow?: number[] }} [options]
 * @returns {Promise<{ status: number, body: any, headers: Headers }>}
 */
async function call(method, path, { body, token, allow = [] } = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(`${api}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    fail(`${method} ${path}: no answer from ${api} (${reason(err)})`);
  }
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { message: text.slice(0, 200) };
  }
  if (res.status >= 400 && !allow.includes(res.status)) {
    fail(`${method} ${path} answered ${res.status}${parsed.code ? ` ${parsed.code}` : ''}: ${parsed.message ?? 'no message'}`);
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** The cause of a failed fetch, in a few words (ECONNREFUSED, a timeout). */
function reason(/** @type {unknown} */ err) {
  const e = /** @type {{ name?: string, message?: string, cause?: { code?: string, message?: string } }} */ (err);
  if (e.name === 'TimeoutError') return `no answer within ${TIMEOUT_MS / 1000} s`;
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Where to read codes: --outbox, or the gateway's /demo/outbox when it says the emulator is in use. */
async function outboxUrl() {
  if (args.outbox) return args.outbox;
  try {
    const res = await fetch(`${api}/demo/config.json`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!res.ok) return undefined;
    const { outbox_url: path } = /** @type {{ outbox_url?: string | null }} */ (await res.json());
    return path ? new URL(path, `${api}/`).href : undefined;
  } catch {
    return undefined;
  }
}

/** The newest code the emulator "sent" to the number, waiting a little for it. */
async function codeFromOutbox(/** @type {string} */ url, /** @type {string} */ phone) {
  const to = `+${phone.replace(/\D/g, '')}`;
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      const res = await fetch(`${url}${url.includes('?') ? '&' : '?'}to=${encodeURIComponent(to)}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
      if (res.ok) {
        const body = /** @type {{ code?: string | null, messages?: Array<{ code: string }> }} */ (await res.json());
        // The gateway's /demo/outbox answers {code}; the emulator's own /outbox {messages}.
        const code = body.code ?? body.messages?.at(-1)?.code;
        if (code) return code;
      }
    } catch (err) {
      fail(`the outbox at ${url} does not answer (${reason(err)})`);
    }
    await sleep(250);
  }
  return undefined;
}

const money = (/** @type {number} */ n, currency = 'USD') => new Intl.NumberFormat('en-US', { style: 'currency', currency: currency || 'USD' }).format(n);

async function linkBank(/** @type {string} */ access) {
  step('Linking the Plaid sandbox bank');
  const { body: pt } = await call('POST', '/api/plaid/sandbox/public-token', { token: access });
  const { body: signup } = await call('POST', '/api/plaid/signup', { token: access, body: { public_token: pt.public_token } });
  ok(`linked ${signup.item.institution_name ?? signup.item.institution_id} (item ${signup.item.item_id})`);
  const { body: accounts } = await call('GET', '/api/plaid/accounts', { token: access });
  for (const a of accounts.accounts) {
    info(`${a.name.padEnd(20)} ${`${a.type}/${a.subtype ?? '-'}`.padEnd(22)} ${money(a.balances.current ?? 0, a.balances.iso_currency_code).padStart(12)}`);
  }
  // Right after a link Plaid may still be pulling the history: 409 with Retry-After.
  let tx;
  for (let attempt = 0; ; attempt++) {
    const res = await call('GET', '/api/plaid/transactions?count=500', { token: access, allow: attempt < 10 ? [409] : [] });
    if (res.status === 200) {
      tx = res.body;
      break;
    }
    info('the bank is still sending its transactions…');
    await sleep((Number(res.headers.get('retry-after')) || 2) * 1000);
  }
  const since = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  const recent = tx.transactions.filter((/** @type {{ date: string }} */ t) => t.date >= since);
  const spent = recent.filter((/** @type {{ amount: number }} */ t) => t.amount > 0).reduce((/** @type {number} */ s, /** @type {{ amount: number }} */ t) => s + t.amount, 0);
  const received = recent.filter((/** @type {{ amount: number }} */ t) => t.amount < 0).reduce((/** @type {number} */ s, /** @type {{ amount: number }} */ t) => s - t.amount, 0);
  ok(`${accounts.accounts.length} accounts, ${tx.total} transactions; last 30 days: ${money(spent)} spent, ${money(received)} received`);
  for (const t of tx.transactions.slice(0, 5)) {
    info(`${t.date}  ${String(t.merchant_name ?? t.name).padEnd(24)} ${money(-t.amount, t.iso_currency_code).padStart(12)}`);
  }
}

async function main() {
  say(paint('bold', `Phone login walkthrough against ${api}`));
  try {
    const res = await fetch(`${api}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!res.ok) fail(`the API at ${api} answered /health with ${res.status}`);
  } catch (err) {
    if (err instanceof Failure) throw err;
    fail(`the API is not running at ${api} (${reason(err)}): start it with \`npm start\`, or pass --api <url>`);
  }

  const phone = args.phone ?? (await ask('Phone number, with its country code', DEFAULT_PHONE));
  step(`Sending a code to ${phone}`);
  await call('POST', '/api/auth/send-verification', { body: { phone_number: phone } });
  ok('code sent');

  const outbox = await outboxUrl();
  let code;
  if (outbox) {
    code = await codeFromOutbox(outbox, phone);
    if (code) ok(`code ${paint('bold', code)} read from the Twilio emulator's outbox (${outbox})`);
  }
  if (!code) {
    if (yes) fail(outbox ? `no code for ${phone} in the outbox at ${outbox}` : 'no emulator outbox to read the code from: pass --outbox <url>, or leave out --yes and type the code');
    code = await ask('The code from the SMS');
  }

  step('Verifying the code');
  const { body: verified } = await call('POST', '/api/auth/verify-code', { body: { phone_number: phone, code } });
  let { access_token: access, refresh_token: refresh } = verified.tokens;
  ok(`logged in as ${verified.phone_number}`);
  info(`access token  ${access.slice(0, 24)}…`);

  step('Calling the protected route');
  const { body: me } = await call('GET', '/api/auth/protected', { token: access });
  ok(`${me.message} (${me.phone_number})`);

  step('Refreshing the tokens');
  const { body: pair } = await call('POST', '/api/auth/refresh', { token: refresh });
  ({ access_token: access, refresh_token: refresh } = pair);
  ok('new access and refresh tokens (the old refresh token is spent)');

  const link = yes || /^y(es)?$/i.test(await ask('Link the Plaid sandbox bank? y/n', 'y'));
  if (link) await linkBank(access);

  step('Logging out');
  await call('DELETE', '/api/auth/logout', { token: access });
  const after = await call('GET', '/api/auth/protected', { token: access, allow: [401] });
  if (after.status !== 401) fail(`the access token still works after logout (${after.status})`);
  ok(`logged out: the access token is refused now (401 ${after.body.code})`);
  say();
  say(paint('green', 'Done.'));
}

try {
  await main();
} catch (err) {
  if (!(err instanceof Failure)) throw err;
  process.stderr.write(`${paint('red', '✖')} ${err.message}\n`);
  process.exitCode = 1;
} finally {
  rl?.close();
}
