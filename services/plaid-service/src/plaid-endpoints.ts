// The Plaid SDK's endpoints this service calls, without loading the SDK's api.js: that one file
// holds every Plaid endpoint and model (9.7 MB, 7 MB of it an inline source map) and cost a start
// about half a second and 50-80 MB of RSS. What runs is still the SDK's: its Configuration (the
// Plaid-Version and User-Agent headers), its BaseAPI's axios and its request helpers, assembled
// exactly as each generated endpoint method assembles them (test/plaid-endpoints.test.ts compares
// the requests with the full SDK's).
import type { PlaidApi } from 'plaid';
import { BaseAPI, BASE_PATH } from 'plaid/dist/base.js';
import { assertParamExists, createRequestFunction, DUMMY_BASE_URL, serializeDataIfNeeded, setApiKeyToObject, setSearchParams, toPathString } from 'plaid/dist/common.js';
import type { Configuration } from 'plaid/dist/configuration.js';

/** Each endpoint this service calls and its path; the SDK's method of the same name POSTs there. */
const PATHS = {
  linkTokenCreate: '/link/token/create',
  sandboxPublicTokenCreate: '/sandbox/public_token/create',
  itemPublicTokenExchange: '/item/public_token/exchange',
  itemGet: '/item/get',
  itemRemove: '/item/remove',
  accountsGet: '/accounts/get',
  transactionsSync: '/transactions/sync',
  webhookVerificationKeyGet: '/webhook_verification_key/get',
} as const;

type Endpoint = keyof typeof PATHS;

/** The part of the SDK's PlaidApi this service uses (a full PlaidApi is one too). */
export type PlaidEndpoints = Pick<PlaidApi, Endpoint>;

/** The SDK's per-call options (axios's request config: timeout, signal, headers, query). */
interface CallOptions {
  headers?: Record<string, string>;
  query?: Record<string, unknown>;
  [option: string]: unknown;
}

class SdkEndpoints extends BaseAPI {
  /** What the SDK's PlaidApiAxiosParamCreator, PlaidApiFp and PlaidApi methods do for every endpoint above. */
  async post(name: Endpoint, request: unknown, options: CallOptions = {}) {
    assertParamExists(name, `${name}Request`, request);
    const url = new URL(PATHS[name], DUMMY_BASE_URL);
    const configuration = this.configuration;
    const baseOptions = configuration?.baseOptions as CallOptions | undefined;
    const requestOptions: CallOptions = { method: 'POST', ...baseOptions, ...options };
    const headers: Record<string, string> = {};
    await setApiKeyToObject(headers, 'PLAID-CLIENT-ID', configuration);
    await setApiKeyToObject(headers, 'Plaid-Version', configuration);
    await setApiKeyToObject(headers, 'PLAID-SECRET', configuration);
    headers['Content-Type'] = 'application/json';
    setSearchParams(url, {}, options.query);
    requestOptions.headers = { ...headers, ...baseOptions?.headers, ...options.headers };
    requestOptions.data = serializeDataIfNeeded(request, requestOptions, configuration);
    return createRequestFunction({ url: toPathString(url), options: requestOptions }, this.axios, BASE_PATH, configuration)(this.axios, this.basePath);
  }
}

export function plaidEndpoints(configuration: Configuration): PlaidEndpoints {
  const sdk = new SdkEndpoints(configuration);
  const endpoint = <E extends Endpoint>(name: E) => ((request: unknown, options?: CallOptions) => sdk.post(name, request, options)) as unknown as PlaidApi[E];
  return {
    linkTokenCreate: endpoint('linkTokenCreate'),
    sandboxPublicTokenCreate: endpoint('sandboxPublicTokenCreate'),
    itemPublicTokenExchange: endpoint('itemPublicTokenExchange'),
    itemGet: endpoint('itemGet'),
    itemRemove: endpoint('itemRemove'),
    accountsGet: endpoint('accountsGet'),
    transactionsSync: endpoint('transactionsSync'),
    webhookVerificationKeyGet: endpoint('webhookVerificationKeyGet'),
  };
}
