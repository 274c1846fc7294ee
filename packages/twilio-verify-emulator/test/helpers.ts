import twilio from 'twilio';
import { DEFAULT_SERVICE_SID } from '../src/app.ts';
import { EmulatorRequestClient } from '../src/request-client.ts';

export const ACCOUNT_SID = `AC${'1'.repeat(32)}`;
export const AUTH_TOKEN = 'test-auth-token';
export const SERVICE_SID = DEFAULT_SERVICE_SID;

/** The real SDK, pointed at an emulator. */
export function sdkClient(url: string, accountSid = ACCOUNT_SID, authToken = AUTH_TOKEN) {
  return twilio(accountSid, authToken, { httpClient: new EmulatorRequestClient(url) });
}

let lastPhone = 0;
/** A fresh number per test, so verifications left pending by one test cannot affect another. */
export const nextPhone = (): string => `+1555${String(1_000_000 + ++lastPhone).slice(1)}`;

export interface OutboxBody {
  messages: { to: string; channel: string; code: string; body: string; created_at: string }[];
}

export async function readOutbox(url: string, to?: string): Promise<OutboxBody> {
  const res = await fetch(to === undefined ? `${url}/outbox` : `${url}/outbox?to=${encodeURIComponent(to)}`);
  if (res.status !== 200) throw new Error(`outbox answered ${res.status}`);
  return (await res.json()) as OutboxBody;
}

export async function latestCode(url: string, to: string): Promise<string> {
  const { messages } = await readOutbox(url, to);
  const last = messages.at(-1);
  if (!last) throw new Error(`no message sent to ${to}`);
  return last.code;
}

export async function advanceClock(url: string, seconds: number): Promise<void> {
  const res = await fetch(`${url}/_emulator/clock/advance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ seconds }),
  });
  if (res.status !== 200) throw new Error(`clock advance answered ${res.status}`);
}

/** A code of the same length that is certainly not `code`. */
export const wrongCode = (code: string): string => (code === '000000' ? '111111' : '000000');

/** Makes the next matching Twilio request answer a Twilio error (`POST /_emulator/failures`). */
export async function failNext(url: string, failure: { code: number; operation?: string; to?: string; times?: number }): Promise<void> {
  const res = await fetch(`${url}/_emulator/failures`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(failure),
  });
  if (res.status !== 204) throw new Error(`failure hook answered ${res.status}`);
}
