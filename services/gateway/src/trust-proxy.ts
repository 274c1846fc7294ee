import { isIP } from 'node:net';
import { ConfigError } from '@repo/runtime';

/** Fastify's `trustProxy`: whom to believe about the client's address in X-Forwarded-For. */
export type TrustProxy = false | string[] | ((address: string, hop: number) => boolean);

/**
 * Reads TRUST_PROXY: off, a hop count, or proxy addresses/CIDRs. `true` would trust every hop: any
 * client could then choose its IP, and so its rate-limit key, with X-Forwarded-For. Refused with a
 * line that says what to set instead.
 */
export function trustProxyOption(value: boolean | string | undefined): TrustProxy {
  const v = String(value ?? '').trim();
  if (/^true$/i.test(v)) {
    throw new ConfigError(
      'TRUST_PROXY=true is refused: it trusts every hop, so any client could pick its IP (and rate-limit key) with X-Forwarded-For; set the number of proxies in front of the gateway (e.g. 1) or their addresses/CIDRs (e.g. 10.0.0.0/8)',
    );
  }
  if (v === '' || /^false$/i.test(v)) return false;
  if (/^\d{1,2}$/.test(v)) {
    const hops = Number(v);
    return hops === 0 ? false : (_address, hop) => hop < hops;
  }
  const entries = v.split(',').map((e) => e.trim());
  for (const entry of entries) {
    const [address = '', bits, extra] = entry.split('/');
    const family = isIP(address);
    const bitsOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (family === 0 || !bitsOk || extra !== undefined) {
      throw new ConfigError(`TRUST_PROXY is invalid at "${entry}": expected a hop count or IP addresses/CIDRs, comma-separated, e.g. 10.0.0.0/8,127.0.0.1`);
    }
  }
  return entries;
}
