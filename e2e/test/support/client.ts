// A tiny HTTP client for the gateway and the emulator's outbox, as a client app would use them.
import type { System } from './system.ts';

export interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

export async function call(system: System, method: string, path: string, options: { body?: unknown; token?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(`${system.url}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

let counter = 0;
/** A fresh valid US number per test, so tests never share a verification. */
export function newPhoneNumber(): string {
  counter += 1;
  const n = (Date.now() + counter * 7919) % 10_000;
  return `+1415555${String(n).padStart(4, '0')}`;
}

export async function latestCode(system: System, phone: string): Promise<string> {
  const res = await fetch(`${system.twilioUrl}/outbox?to=${encodeURIComponent(phone)}`);
  const { messages } = (await res.json()) as { messages: Array<{ code: string }> };
  const last = messages.at(-1);
  if (!last) throw new Error(`no code was sent to ${phone}`);
  return last.code;
}

export async function login(system: System, phone = newPhoneNumber()) {
  const sent = await call(system, 'POST', '/api/auth/send-verification', { body: { phone_number: phone } });
  if (sent.status !== 200) throw new Error(`send-verification failed: ${JSON.stringify(sent.body)}`);
  const code = await latestCode(system, phone);
  const verified = await call(system, 'POST', '/api/auth/verify-code', { body: { phone_number: phone, code } });
  if (verified.status !== 200) throw new Error(`verify-code failed: ${JSON.stringify(verified.body)}`);
  return { phone, tokens: verified.body.tokens as { access_token: string; refresh_token: string; token_type: 'Bearer' } };
}
