// Generates the Postman v2.1 collection (postman/phone-login.postman_collection.json) from the
// gateway's OpenAPI document, built from the app without listening:
//   pnpm --filter @repo/e2e postman:generate
// "Login flow" runs the README's calls in order with test scripts (the code read from the Twilio
// emulator's outbox, tokens captured into variables); "API reference" has one request per
// operation with the document's examples. test/postman.e2e.test.ts runs the flow with newman and
// checks that the committed file is what this generates.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InProcessBus } from '@repo/bus';
import { buildGateway, GatewayEnv } from '@repo/gateway';
import { parseEnv } from '@repo/runtime';
import { MemorySessionStore } from '@repo/stores';

export const COLLECTION_FILE = fileURLToPath(new URL('../../postman/phone-login.postman_collection.json', import.meta.url));

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  example?: unknown;
  schema?: { example?: unknown; default?: unknown };
}
interface Operation {
  operationId: string;
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { example?: unknown }> };
}
export interface OpenApi {
  info: { title: string; description?: string; version: string };
  paths: Record<string, Record<string, Operation>>;
}

/** The gateway's OpenAPI document, as /openapi.json serves it. */
export async function openApiDocument(): Promise<OpenApi> {
  const app = await buildGateway({ settings: parseEnv(GatewayEnv, {}), bus: new InProcessBus(500), sessions: new MemorySessionStore() });
  try {
    await app.ready();
    return JSON.parse(JSON.stringify(app.swagger())) as OpenApi;
  } finally {
    await app.close();
  }
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

function operations(doc: OpenApi) {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ path, method: method.toUpperCase(), op: item[method]! })),
  );
}

/** A Postman URL for `{{baseUrl}}` + path (`{item_id}` -> `:item_id`), with query parameters. */
function url(path: string, query: Array<{ key: string; value: string; disabled?: boolean; description?: string }> = [], pathVars: Array<{ key: string; value: string }> = []) {
  const postmanPath = path.replace(/\{([^}]+)\}/g, ':$1');
  const q = query.filter((p) => !p.disabled);
  return {
    raw: `{{baseUrl}}${postmanPath}${q.length ? `?${q.map((p) => `${p.key}=${p.value}`).join('&')}` : ''}`,
    host: ['{{baseUrl}}'],
    path: postmanPath.split('/').filter(Boolean),
    ...(query.length ? { query } : {}),
    ...(pathVars.length ? { variable: pathVars } : {}),
  };
}

const jsonBody = (value: unknown) => ({ mode: 'raw', raw: JSON.stringify(value, null, 2), options: { raw: { language: 'json' } } });
const JSON_HEADER = [{ key: 'Content-Type', value: 'application/json' }];

/** Postman auth for the operation's security: the access token, the refresh token, or none. */
function auth(op: Operation) {
  const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
  if (schemes.includes('refreshToken')) return { type: 'bearer', bearer: [{ key: 'token', value: '{{refreshToken}}', type: 'string' }] };
  if (schemes.includes('bearerAuth')) return { type: 'bearer', bearer: [{ key: 'token', value: '{{accessToken}}', type: 'string' }] };
  return { type: 'noauth' };
}

function referenceRequest({ path, method, op }: ReturnType<typeof operations>[number]) {
  const params = op.parameters ?? [];
  const example = (p: Parameter) => String(p.example ?? p.schema?.example ?? p.schema?.default ?? '');
  const query = params.filter((p) => p.in === 'query').map((p) => ({ key: p.name, value: example(p), disabled: !p.required, ...(p.description ? { description: p.description } : {}) }));
  const pathVars = params.filter((p) => p.in === 'path').map((p) => ({ key: p.name, value: p.name === 'item_id' ? '{{itemId}}' : example(p) }));
  const headers = params.filter((p) => p.in === 'header').map((p) => ({ key: p.name, value: example(p), disabled: !p.required }));
  const bodyExample = op.requestBody?.content?.['application/json']?.example;
  return {
    name: op.summary ?? op.operationId,
    request: {
      auth: auth(op),
      method,
      header: [...(bodyExample !== undefined ? JSON_HEADER : []), ...headers],
      ...(bodyExample !== undefined ? { body: jsonBody(bodyExample) } : {}),
      url: url(path, query, pathVars),
      description: [`operationId: ${op.operationId}`, op.description].filter(Boolean).join('\n\n'),
    },
  };
}

// ---- the Login flow: each step's request comes from its operation, with tests of status and shape ----

interface Step {
  name: string;
  operationId?: string;
  /** A request outside the API (the emulator's outbox). */
  raw?: { method: string; url: string };
  body?: unknown;
  query?: Record<string, string>;
  prerequest?: string[];
  test: string[];
}

const status = (...codes: number[]) =>
  codes.length === 1 ? `pm.test('status ${codes[0]}', () => pm.response.to.have.status(${codes[0]}));` : `pm.test('status ${codes.join(' or ')}', () => pm.expect(pm.response.code).to.be.oneOf([${codes.join(', ')}]));`;
const body = 'const body = pm.response.json();';
const hasRequestId = "pm.test('x-request-id header', () => pm.response.to.have.header('x-request-id'));";

/** A fresh number per run (no minimum-interval 429 when the flow is run again), valid for libphonenumber. */
const freshPhone = (variable: string) => [
  `pm.collectionVariables.set('${variable}', '+1415555' + String(Math.floor(Math.random() * 10000)).padStart(4, '0'));`,
];
const readCode = (variable: string) => [
  status(200),
  body,
  `pm.test('a code was sent', () => pm.expect(body.messages).to.be.an('array').that.is.not.empty);`,
  "const code = body.messages[body.messages.length - 1].code;",
  "pm.test('the code is digits', () => pm.expect(code).to.match(/^[0-9]{4,10}$/));",
  "pm.collectionVariables.set('code', code);",
];
const verified = [
  status(200),
  hasRequestId,
  body,
  "pm.test('authenticated with a token pair', () => { pm.expect(body.authenticated).to.equal(true); pm.expect(body.tokens.token_type).to.equal('Bearer'); pm.expect(body.tokens.access_token).to.be.a('string'); pm.expect(body.tokens.refresh_token).to.be.a('string'); });",
  "pm.collectionVariables.set('accessToken', body.tokens.access_token);",
  "pm.collectionVariables.set('refreshToken', body.tokens.refresh_token);",
];
const outbox = (variable: string) => ({ method: 'GET', url: `{{outboxUrl}}?to={{${variable}Encoded}}` });
const encodePhone = (variable: string) => [`pm.collectionVariables.set('${variable}Encoded', encodeURIComponent(pm.collectionVariables.get('${variable}')));`];

const LOGIN_FLOW: Step[] = [
  {
    name: 'Send a code',
    operationId: 'sendVerificationCode',
    prerequest: freshPhone('phone'),
    body: { phone_number: '{{phone}}' },
    test: [status(200), hasRequestId, body, "pm.test('pending', () => pm.expect(body).to.eql({ message: 'Verification code sent successfully', status: 'pending' }));"],
  },
  { name: "Read the code from the Twilio emulator's outbox", raw: outbox('phone'), prerequest: encodePhone('phone'), test: readCode('phone') },
  { name: 'Verify the code', operationId: 'verifyCode', body: { phone_number: '{{phone}}', code: '{{code}}' }, test: [...verified, "pm.test('the E.164 number', () => pm.expect(body.phone_number).to.equal(pm.collectionVariables.get('phone')));"] },
  {
    name: 'Protected route',
    operationId: 'getProtected',
    test: [status(200), body, "pm.test('this phone number', () => pm.expect(body).to.eql({ message: 'This is a protected route', phone_number: pm.collectionVariables.get('phone') }));"],
  },
  {
    name: 'Refresh (the refresh token as Bearer, no body)',
    operationId: 'refreshToken',
    test: [
      status(200),
      body,
      "pm.test('a new pair', () => { pm.expect(body.token_type).to.equal('Bearer'); pm.expect(body.access_token).to.be.a('string'); pm.expect(body.refresh_token).to.not.equal(pm.collectionVariables.get('refreshToken')); });",
      "pm.collectionVariables.set('accessToken', body.access_token);",
      "pm.collectionVariables.set('refreshToken', body.refresh_token);",
    ],
  },
  {
    name: 'Sandbox public token (no body)',
    operationId: 'createSandboxPublicToken',
    test: [status(200), body, "pm.test('a public token', () => pm.expect(body.public_token).to.match(/^public-/));", "pm.collectionVariables.set('publicToken', body.public_token);"],
  },
  {
    name: 'Sign up: link the bank, read accounts and first transactions',
    operationId: 'signup',
    body: { public_token: '{{publicToken}}' },
    test: [
      status(200, 202),
      body,
      "pm.test('an item with accounts', () => { pm.expect(body.item.item_id).to.be.a('string'); pm.expect(body.accounts).to.be.an('array').that.is.not.empty; pm.expect(body.transactions).to.be.an('array'); pm.expect(body.transactions_status).to.be.oneOf(['ready', 'not_ready']); });",
      "pm.collectionVariables.set('itemId', body.item.item_id);",
    ],
  },
  {
    name: 'Link token (to open Plaid Link)',
    operationId: 'createLinkToken',
    test: [status(200), body, "pm.test('a link token', () => { pm.expect(body.link_token).to.be.a('string'); pm.expect(body.expiration).to.be.a('string'); });"],
  },
  {
    name: 'Accounts',
    operationId: 'listAccounts',
    test: [
      status(200),
      body,
      "pm.test('accounts of the linked item', () => { pm.expect(body.accounts).to.be.an('array').that.is.not.empty; pm.expect(body.accounts.every((a) => a.item_id === pm.collectionVariables.get('itemId'))).to.equal(true); pm.expect(body.items_needing_attention).to.be.an('array'); });",
    ],
  },
  {
    name: 'Transactions (first page of 10)',
    operationId: 'listTransactions',
    query: { count: '10' },
    test: [
      status(200, 409),
      body,
      "if (pm.response.code === 409) { pm.test('not ready yet, with Retry-After', () => { pm.expect(body.code).to.equal('PLAID_PRODUCT_NOT_READY'); pm.response.to.have.header('retry-after'); }); } else { pm.test('a page of transactions', () => { pm.expect(body.transactions).to.be.an('array'); pm.expect(body.transactions.length).to.be.at.most(10); pm.expect(body.total).to.be.a('number'); }); }",
    ],
  },
  { name: 'Log out (this session)', operationId: 'logout', test: [status(200), body, "pm.test('logged out', () => pm.expect(body.message).to.equal('Successfully logged out'));"] },
  {
    name: 'Protected route after logout: 401 TOKEN_REVOKED',
    operationId: 'getProtected',
    test: [status(401), body, "pm.test('TOKEN_REVOKED', () => pm.expect(body.code).to.equal('TOKEN_REVOKED'));"],
  },
  { name: 'Send a code to a second number', operationId: 'sendVerificationCode', prerequest: freshPhone('phone2'), body: { phone_number: '{{phone2}}' }, test: [status(200)] },
  { name: 'Read the second code', raw: outbox('phone2'), prerequest: encodePhone('phone2'), test: readCode('phone2') },
  { name: 'Verify the second code', operationId: 'verifyCode', body: { phone_number: '{{phone2}}', code: '{{code}}' }, test: verified },
  {
    name: 'Log out everywhere',
    operationId: 'logoutAll',
    test: [status(200), body, "pm.test('every session', () => pm.expect(body.message).to.equal('Successfully logged out from all devices for ' + pm.collectionVariables.get('phone2')));"],
  },
];

function flowRequest(step: Step, byId: Map<string, ReturnType<typeof operations>[number]>) {
  const events = [
    ...(step.prerequest ? [{ listen: 'prerequest', script: { type: 'text/javascript', exec: step.prerequest } }] : []),
    { listen: 'test', script: { type: 'text/javascript', exec: step.test } },
  ];
  if (step.raw) {
    const u = new URL(step.raw.url.replace('{{outboxUrl}}', 'http://outbox'));
    return {
      name: step.name,
      event: events,
      request: {
        auth: { type: 'noauth' },
        method: step.raw.method,
        header: [],
        url: { raw: step.raw.url, host: ['{{outboxUrl}}'], query: [...u.searchParams].map(([key, value]) => ({ key, value })) },
      },
    };
  }
  const found = byId.get(step.operationId!);
  if (!found) throw new Error(`the document has no operation ${step.operationId}`);
  return {
    name: step.name,
    event: events,
    request: {
      auth: auth(found.op),
      method: found.method,
      header: step.body !== undefined ? JSON_HEADER : [],
      ...(step.body !== undefined ? { body: jsonBody(step.body) } : {}),
      url: url(found.path, Object.entries(step.query ?? {}).map(([key, value]) => ({ key, value }))),
      description: `operationId: ${found.op.operationId}`,
    },
  };
}

/** The collection, deterministic (no generated ids), so a fresh generation equals the committed file. */
export function collectionFrom(doc: OpenApi) {
  const ops = operations(doc);
  const byId = new Map(ops.map((o) => [o.op.operationId, o]));
  const tags = [...new Set(ops.map((o) => o.op.tags?.[0] ?? 'other'))];
  return {
    info: {
      name: doc.info.title,
      description: `${doc.info.description ?? ''}\n\nGenerated from the gateway's OpenAPI document (version ${doc.info.version}) by e2e/postman/generate.ts: do not edit by hand. Set baseUrl (the gateway) and outboxUrl (the Twilio Verify emulator's GET /outbox), then run the "Login flow" folder.`,
      schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json',
    },
    variable: [
      { key: 'baseUrl', value: 'http://localhost:3000', type: 'string' },
      { key: 'outboxUrl', value: 'http://localhost:3010/outbox', type: 'string' },
      { key: 'phone', value: '+14155552671', type: 'string' },
      { key: 'phone2', value: '', type: 'string' },
      { key: 'code', value: '', type: 'string' },
      { key: 'accessToken', value: '', type: 'string' },
      { key: 'refreshToken', value: '', type: 'string' },
      { key: 'publicToken', value: '', type: 'string' },
      { key: 'itemId', value: '', type: 'string' },
    ],
    item: [
      { name: 'Login flow', description: 'The README walkthrough: log in by SMS code (read from the emulator), tokens, Plaid sandbox linking, logout.', item: LOGIN_FLOW.map((s) => flowRequest(s, byId)) },
      {
        name: 'API reference',
        description: 'One request per operation, with the examples of the OpenAPI document.',
        item: tags.map((tag) => ({ name: tag, item: ops.filter((o) => (o.op.tags?.[0] ?? 'other') === tag).map(referenceRequest) })),
      },
    ],
  };
}

export const collectionText = (doc: OpenApi) => `${JSON.stringify(collectionFrom(doc), null, 2)}\n`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(COLLECTION_FILE, collectionText(await openApiDocument()));
  process.stdout.write(`wrote ${COLLECTION_FILE}\n`);
}
