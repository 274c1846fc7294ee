// Every answer of the login and bank-linking flow, as a client sees it, checked against the
// gateway's own /openapi.json: declared status, body matching its schema, x-request-id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, latestCode, newPhoneNumber, type Reply } from './support/client.ts';
import { ResponseValidator, type OpenApiDocument } from './support/openapi.ts';
import { startSystem, type System } from './support/system.ts';

describe('the e2e flow answers as /openapi.json says [embedded]', () => {
  let system: System;
  let validator: ResponseValidator;
  const problems: string[] = [];

  /** One call, its answer checked against the document. */
  async function checked(method: string, path: string, options: { body?: unknown; token?: string } = {}): Promise<Reply> {
    const reply = await call(system, method, path, options);
    problems.push(...validator.problems(method, path, reply));
    return reply;
  }

  beforeAll(async () => {
    system = await startSystem('embedded');
    const res = await fetch(`${system.url}/openapi.json`);
    expect(res.status).toBe(200);
    validator = new ResponseValidator((await res.json()) as OpenApiDocument);
  }, 120_000);
  afterAll(async () => {
    await system?.close();
  });

  it('logs in, refreshes, links a bank, reads it, unlinks it and logs out, every answer as documented', async () => {
    const phone = newPhoneNumber();
    expect((await checked('GET', '/health')).status).toBe(200);
    expect((await checked('GET', '/ready')).status).toBe(200);
    expect((await checked('GET', '/.well-known/jwks.json')).status).toBe(200);

    // Errors are documented too.
    expect((await checked('POST', '/api/auth/send-verification', { body: { phone_number: '12345' } })).status).toBe(400);
    expect((await checked('POST', '/api/auth/send-verification', { body: { phone: phone } })).status).toBe(400);
    expect((await checked('GET', '/api/auth/protected')).status).toBe(401);

    expect((await checked('POST', '/api/auth/send-verification', { body: { phone_number: phone } })).status).toBe(200);
    const code = await latestCode(system, phone);
    const wrong = await checked('POST', '/api/auth/verify-code', { body: { phone_number: phone, code: code === '000000' ? '111111' : '000000' } });
    expect(wrong.body).toEqual({ message: 'Invalid verification code', authenticated: false, status: 'pending', code: 'INVALID_VERIFICATION_CODE' });
    const verified = await checked('POST', '/api/auth/verify-code', { body: { phone_number: phone, code } });
    expect(verified.status).toBe(200);
    const { access_token: access, refresh_token: refresh } = verified.body.tokens as { access_token: string; refresh_token: string };

    expect((await checked('GET', '/api/auth/protected', { token: access })).status).toBe(200);
    const accessAsRefresh = await checked('POST', '/api/auth/refresh', { token: access });
    expect(accessAsRefresh.status).toBe(401);
    expect(accessAsRefresh.body.message).toMatch(/access token was sent where a refresh token is expected/);
    const refreshed = await checked('POST', '/api/auth/refresh', { token: refresh });
    expect(refreshed.status).toBe(200);
    const token = refreshed.body.access_token as string;

    expect((await checked('POST', '/api/plaid/link-token', { token })).status).toBe(200);
    const pub = await checked('POST', '/api/plaid/sandbox/public-token', { token });
    expect(pub.status).toBe(200);
    const signup = await checked('POST', '/api/plaid/signup', { token, body: { public_token: pub.body.public_token } });
    expect([200, 202]).toContain(signup.status);
    const itemId = signup.body.item.item_id as string;
    const pub2 = await checked('POST', '/api/plaid/sandbox/public-token', { token, body: { institution_id: 'ins_109508' } });
    const exchanged = await checked('POST', '/api/plaid/exchange-public-token', { token, body: { public_token: pub2.body.public_token } });
    expect(exchanged.status).toBe(200);
    expect((await checked('POST', '/api/plaid/exchange-public-token', { token, body: { public_token: pub2.body.public_token } })).status).toBe(400);

    expect((await checked('GET', '/api/plaid/accounts', { token })).status).toBe(200);
    expect((await checked('GET', `/api/plaid/accounts?item_id=${itemId}`, { token })).status).toBe(200);
    // Without count (its default), then a page; 409 while Plaid still pulls an item is documented too.
    expect([200, 409]).toContain((await checked('GET', '/api/plaid/transactions', { token })).status);
    expect([200, 409]).toContain((await checked('GET', `/api/plaid/transactions?item_id=${itemId}&count=5&offset=0`, { token })).status);
    expect((await checked('GET', '/api/plaid/transactions?count=0', { token })).status).toBe(400);
    expect((await checked('DELETE', `/api/plaid/items/${exchanged.body.item_id}`, { token })).status).toBe(200);
    expect((await checked('DELETE', `/api/plaid/items/${exchanged.body.item_id}`, { token })).status).toBe(404);
    expect((await checked('POST', '/api/plaid/webhook', { body: { webhook_type: 'TRANSACTIONS', webhook_code: 'SYNC_UPDATES_AVAILABLE', item_id: itemId } })).status).toBe(401);

    expect((await checked('DELETE', '/api/auth/logout', { token })).status).toBe(200);
    expect((await checked('GET', '/api/auth/protected', { token })).status).toBe(401);
    const again = await checked('POST', '/api/auth/refresh', { body: { refresh_token: refreshed.body.refresh_token } });
    expect(again.status).toBe(401);
    expect((await checked('POST', '/api/auth/send-verification', { body: { phone_number: phone } })).status).toBe(200);
    const second = await checked('POST', '/api/auth/verify-code', { body: { phone_number: phone, code: await latestCode(system, phone) } });
    expect((await checked('DELETE', '/api/auth/logout-all', { token: second.body.tokens.access_token })).status).toBe(200);

    console.log(`openapi response check: ${validator.checked.length} answers of ${new Set(validator.checked.map((c) => c.split(' ')[0])).size} operations, problems=${problems.length}`);
    expect(problems).toEqual([]);
  });
});
