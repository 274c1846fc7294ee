// The demo page's logic: plain browser JavaScript against the gateway's HTTP API, no framework,
// no build step. Tokens live in this page's memory only; reloading the page starts over.
const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';

const state = { config: { outbox_url: null }, phone: '', access: '', refresh: '' };

function status(text, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

function show(...ids) {
  for (const id of ['step-phone', 'step-code', 'step-session', 'step-bank', 'step-done']) $(id).hidden = !ids.includes(id);
}

/** Calls the API; a non-2xx answer throws its `message` (our error shape) with the status. */
async function api(method, path, { body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.message || `${method} ${path} answered ${res.status}`);
    err.status = res.status;
    err.retryAfter = Number(res.headers.get('retry-after')) || 0;
    throw err;
  }
  return { status: res.status, data };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a step with its button disabled; an error is shown in the status line. */
async function step(button, fn) {
  button.disabled = true;
  try {
    await fn();
  } catch (err) {
    status(err.message, true);
  } finally {
    button.disabled = false;
  }
}

/** The newest code the Twilio emulator "sent" to the number (embedded default only). */
async function codeFromOutbox(phone) {
  const to = `+${phone.replace(/\D/g, '')}`;
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${state.config.outbox_url}?to=${encodeURIComponent(to)}`);
    if (res.ok) {
      const { code } = await res.json();
      if (code) return code;
    }
    await sleep(250);
  }
  return null;
}

async function sendCode(event) {
  event.preventDefault();
  await step($('send-code'), async () => {
    state.phone = $('phone').value.trim();
    status('Sending a code…');
    await api('POST', '/api/auth/send-verification', { body: { phone_number: state.phone } });
    show('step-phone', 'step-code');
    const hint = $('code-hint');
    hint.hidden = true;
    $('code').value = '';
    if (state.config.outbox_url) {
      const code = await codeFromOutbox(state.phone);
      if (code) {
        hint.replaceChildren('The Twilio Verify emulator "sent" the code ', Object.assign(document.createElement('strong'), { textContent: code }), ' (read from its outbox; filled in below).');
        hint.hidden = false;
        $('code').value = code;
      }
    }
    status('Code sent. Enter it to log in.');
    $('code').focus();
  });
}

async function verify(event) {
  event.preventDefault();
  await step($('verify'), async () => {
    status('Checking the code…');
    const { data } = await api('POST', '/api/auth/verify-code', { body: { phone_number: state.phone, code: $('code').value.trim() } });
    state.access = data.tokens.access_token;
    state.refresh = data.tokens.refresh_token;
    const me = await api('GET', '/api/auth/protected', { token: state.access });
    $('who').textContent = me.data.phone_number;
    $('link-bank').hidden = false;
    show('step-session');
    status(`Logged in as ${me.data.phone_number} (the protected route answered).`);
  });
}

function money(amount, currency) {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency: currency || 'USD' }).format(amount);
}

function renderAccounts(accounts) {
  $('accounts').replaceChildren(
    ...accounts.map((a) => {
      const li = document.createElement('li');
      const name = Object.assign(document.createElement('div'), { textContent: `${a.name}${a.mask ? ` ••${a.mask}` : ''}` });
      const kind = Object.assign(document.createElement('small'), { textContent: [a.type, a.subtype].filter(Boolean).join(' / ') });
      const balance = Object.assign(document.createElement('div'), { className: 'balance', textContent: money(a.balances.current ?? 0, a.balances.iso_currency_code) });
      li.append(name, kind, balance);
      return li;
    }),
  );
}

function renderTransactions(transactions, total) {
  const rows = transactions.slice(0, 50).map((t) => {
    const tr = document.createElement('tr');
    const cells = [t.date, t.merchant_name || t.name, t.category || '', money(-t.amount, t.iso_currency_code)];
    cells.forEach((text, i) => {
      const td = Object.assign(document.createElement('td'), { textContent: text });
      if (i === 3) td.className = t.amount < 0 ? 'num income' : 'num';
      tr.append(td);
    });
    return tr;
  });
  $('transactions').tBodies[0].replaceChildren(...rows);
  $('tx-count').textContent = `(${rows.length} newest of ${total})`;
}

/** Spending (money out: positive Plaid amounts) per month, the last 12 months, as SVG bars. */
function renderChart(transactions) {
  const months = new Map();
  for (const t of transactions) {
    if (t.amount <= 0) continue;
    const month = t.date.slice(0, 7);
    months.set(month, (months.get(month) ?? 0) + t.amount);
  }
  const data = [...months.entries()].sort(([a], [b]) => a.localeCompare(b)).slice(-12);
  const width = 720, height = 240, pad = { top: 16, right: 8, bottom: 36, left: 56 };
  const max = Math.max(1, ...data.map(([, v]) => v));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Spending by month');
  const el = (name, attrs, text) => {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  const plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
  el('line', { class: 'axis', x1: pad.left, y1: pad.top + plotH, x2: width - pad.right, y2: pad.top + plotH });
  for (const f of [0, 0.5, 1]) {
    el('text', { x: pad.left - 6, y: pad.top + plotH * (1 - f) + 4, 'text-anchor': 'end' }, `$${Math.round(max * f)}`);
  }
  const slot = plotW / Math.max(1, data.length);
  data.forEach(([month, value], i) => {
    const h = (value / max) * plotH;
    const x = pad.left + i * slot + slot * 0.15;
    const bar = el('rect', { class: 'bar', x, y: pad.top + plotH - h, width: slot * 0.7, height: h, 'data-month': month });
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${month}: ${money(value)}`;
    bar.append(title);
    el('text', { x: x + slot * 0.35, y: height - pad.bottom + 16, 'text-anchor': 'middle' }, month.slice(2).replace('-', '/'));
  });
  $('chart').replaceChildren(svg);
}

/** Reads transactions; right after a link Plaid may still be pulling them (409 + Retry-After). */
async function transactions() {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await api('GET', '/api/plaid/transactions?count=500', { token: state.access })).data;
    } catch (err) {
      if (err.status !== 409 || attempt >= 10) throw err;
      status('The bank is still sending its transactions…');
      await sleep((err.retryAfter || 2) * 1000);
    }
  }
}

async function linkBank() {
  await step($('link-bank'), async () => {
    status('Linking the sandbox bank…');
    const { data: pt } = await api('POST', '/api/plaid/sandbox/public-token', { token: state.access });
    const { data: signup } = await api('POST', '/api/plaid/signup', { token: state.access, body: { public_token: pt.public_token } });
    const { data: acc } = await api('GET', '/api/plaid/accounts', { token: state.access });
    const tx = await transactions();
    renderAccounts(acc.accounts);
    renderTransactions(tx.transactions, tx.total);
    renderChart(tx.transactions);
    show('step-session', 'step-bank');
    // One sandbox item per login is enough; another click would link a second one.
    $('link-bank').hidden = true;
    status(`Linked ${signup.item.institution_name ?? 'the bank'}: ${acc.accounts.length} accounts, ${tx.total} transactions.`);
  });
}

async function logout() {
  await step($('logout'), async () => {
    await api('DELETE', '/api/auth/logout', { token: state.access });
    state.access = state.refresh = '';
    show('step-done');
    status('Logged out.');
  });
}

async function main() {
  $('phone-form').addEventListener('submit', sendCode);
  $('code-form').addEventListener('submit', verify);
  $('link-bank').addEventListener('click', linkBank);
  $('logout').addEventListener('click', logout);
  $('again').addEventListener('click', () => {
    show('step-phone');
    status('Enter a phone number.');
  });
  try {
    const res = await fetch('/demo/config.json');
    if (res.ok) state.config = await res.json();
  } catch {
    // no outbox: the code is typed in
  }
  show('step-phone');
  status(state.config.outbox_url ? 'Enter a phone number. The code is read from the Twilio emulator here.' : 'Enter a phone number; the code comes by SMS.');
  document.body.dataset.ready = 'true';
}

main();
