import { ConfigError } from '@repo/runtime';

/** Response headers a browser app may read: the request id, and the rate-limit ones. */
export const CORS_EXPOSED_HEADERS = ['x-request-id', 'Retry-After', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];

/**
 * Reads CORS_ORIGINS: the browser origins (scheme://host[:port]) allowed to call the API,
 * comma-separated. Empty means no CORS headers at all (only same-origin pages and non-browser
 * clients). Anything that is not exactly an origin (a path, a trailing slash, `*`) is refused.
 */
export function corsOrigins(value: string | undefined): string[] {
  const v = (value ?? '').trim();
  if (v === '') return [];
  return v.split(',').map((raw) => {
    const entry = raw.trim();
    let origin: string | undefined;
    try {
      const url = new URL(entry);
      if (url.protocol === 'http:' || url.protocol === 'https:') origin = url.origin;
    } catch {
      // refused below
    }
    if (origin === undefined || origin !== entry.toLowerCase()) {
      throw new ConfigError(`CORS_ORIGINS is invalid at "${entry}": expected origins like https://app.example.com or http://localhost:5173 (scheme, host, optional port; no path or trailing slash), comma-separated`);
    }
    return origin;
  });
}
