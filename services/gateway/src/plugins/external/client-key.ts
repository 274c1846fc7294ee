import { isIPv6 } from 'node:net';
import { Address6 } from 'ip-address';

// An IPv6 client usually holds a whole /64 (one address per device, privacy addresses that change
// by the hour), so it is counted per /64, as @fastify/rate-limit keys the routes' own limits.
const IPV6_PREFIX = 64;

/** The per-IP limit's key of a client address: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64. */
export function clientKey(ip: string): string {
  // The common case without the IPv6 parser.
  if (!ip.includes(':') || !isIPv6(ip)) return ip;
  const address = new Address6(ip);
  if (address.isMapped4()) return address.to4().correctForm();
  return new Address6(`${ip}/${IPV6_PREFIX}`).startAddress().correctForm();
}
