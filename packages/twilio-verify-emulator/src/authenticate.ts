export interface TwilioCredentials {
  accountSid: string;
  authToken: string;
}

/**
 * Returns the account SID that an `Authorization: Basic` header authenticates as, or undefined.
 * Without configured credentials any `AC...` SID with a non-empty token passes, so developers can
 * keep whatever placeholder credentials their `.env` already has.
 */
export function authenticate(header: string | undefined, credentials?: TwilioCredentials): string | undefined {
  const encoded = /^Basic\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (encoded === undefined) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  const accepted = credentials
    ? username === credentials.accountSid && password === credentials.authToken
    : username.startsWith('AC') && password !== '';
  return accepted ? username : undefined;
}
