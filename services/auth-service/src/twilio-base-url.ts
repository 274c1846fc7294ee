/**
 * A `twilio` RequestClient that sends every Twilio API call to another base URL (a Twilio Verify
 * emulator, TWILIO_VERIFY_BASE_URL) instead of *.twilio.com: the real SDK, pointed elsewhere.
 * Part of the service, so a production image needs no emulator package.
 */
import RequestClient from 'twilio/lib/base/RequestClient.js';

type RequestClientOptions = ConstructorParameters<typeof RequestClient>[0];
type RequestOptions<TData> = Parameters<RequestClient['request']>[0] & { data?: TData };

const TWILIO_HOST = /^https:\/\/([a-z0-9-]+\.)*twilio\.com(?=[/?]|$)/i;

export class BaseUrlRequestClient extends RequestClient {
  readonly baseUrl: string;

  constructor(baseUrl: string, opts?: RequestClientOptions) {
    super(opts);
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  override request<TData>(opts: RequestOptions<TData>) {
    return super.request<TData>({ ...opts, uri: opts.uri.replace(TWILIO_HOST, this.baseUrl) });
  }
}
