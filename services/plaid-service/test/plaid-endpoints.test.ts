// plaidEndpoints sends what the full plaid SDK's PlaidApi sends, endpoint by endpoint, and hands
// back its answers and failures alike: both call a capturing HTTP server with the same configuration.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Configuration, PlaidApi } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plaidEndpoints, type PlaidEndpoints } from '../src/plaid-endpoints.ts';

interface Captured {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

const REQUESTS: { [E in keyof PlaidEndpoints]: Parameters<PlaidEndpoints[E]>[0] } = {
  linkTokenCreate: { client_name: 'bench', language: 'en', country_codes: [], user: { client_user_id: 'u1' } },
  sandboxPublicTokenCreate: { institution_id: 'ins_109508', initial_products: [] },
  itemPublicTokenExchange: { public_token: 'public-sandbox-1' },
  itemGet: { access_token: 'access-sandbox-1' },
  itemRemove: { access_token: 'access-sandbox-1' },
  accountsGet: { access_token: 'access-sandbox-1', options: { account_ids: ['a1'] } },
  transactionsSync: { access_token: 'access-sandbox-1', cursor: 'c1', count: 100 },
  webhookVerificationKeyGet: { key_id: 'kid-1' },
};

describe('plaidEndpoints', () => {
  let server: Server;
  let basePath: string;
  const captured: Captured[] = [];
  /** The status the server answers with (and `{ status, path }` as the body). */
  let status = 200;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        captured.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status, path: req.url }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    basePath = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const configuration = () => new Configuration({ basePath, baseOptions: { headers: { 'PLAID-CLIENT-ID': 'client-id', 'PLAID-SECRET': 'secret' }, timeout: 5_000 } });

  /** The request one client sends, and what the call gives back (its body, or the failure's status and body). */
  async function exchange(client: PlaidEndpoints, name: keyof PlaidEndpoints) {
    captured.length = 0;
    // Called as a method: the SDK's methods use `this`.
    const call = client[name] as (this: PlaidEndpoints, request: unknown, options: object) => Promise<{ status: number; data: unknown }>;
    const outcome = await call.call(client, REQUESTS[name], { timeout: 4_000, headers: { 'X-Call': name }, signal: AbortSignal.timeout(4_000) }).then(
      (res) => ({ ok: res.status, data: res.data }),
      (err: { name?: string; isAxiosError?: boolean; response?: { status: number; data: unknown } }) => ({ failed: err.name, axios: err.isAxiosError, status: err.response?.status, data: err.response?.data }),
    );
    expect(captured).toHaveLength(1);
    return { request: captured[0], outcome };
  }

  for (const name of Object.keys(REQUESTS) as Array<keyof PlaidEndpoints>) {
    it(`${name}: the same request and answer as the SDK's PlaidApi`, async () => {
      status = 200;
      const theirs = await exchange(new PlaidApi(configuration()), name);
      const ours = await exchange(plaidEndpoints(configuration()), name);
      expect(ours).toEqual(theirs);
      expect(ours.request?.method).toBe('POST');
      expect(ours.request?.headers['plaid-version']).toBe('2020-09-14');
      expect(ours.request?.headers['plaid-client-id']).toBe('client-id');
      expect(JSON.parse(ours.request!.body)).toEqual(REQUESTS[name]);
    });
  }

  it('a Plaid error rejects as the SDK rejects (an axios error with the answer)', async () => {
    status = 400;
    const theirs = await exchange(new PlaidApi(configuration()), 'itemGet');
    const ours = await exchange(plaidEndpoints(configuration()), 'itemGet');
    expect(ours).toEqual(theirs);
    expect(ours.outcome).toMatchObject({ failed: 'AxiosError', axios: true, status: 400 });
  });

  it('refuses a missing request before calling, as the SDK does', async () => {
    const client = plaidEndpoints(configuration());
    await expect((client.itemGet as (r: unknown) => Promise<unknown>)(undefined)).rejects.toThrow(/Required parameter itemGetRequest/);
  });
});
