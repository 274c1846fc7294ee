/** Twilio's JSON for the Verify resources we emulate, snake_case as on the wire. */
import type { Verification } from './verification-store.ts';

/** Twilio writes timestamps to the second: `2015-07-30T20:00:00Z`. */
export const twilioDate = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const base = (v: Verification) => ({
  sid: v.sid,
  service_sid: v.serviceSid,
  account_sid: v.accountSid,
  to: v.to,
  channel: v.channel,
  status: v.status,
  valid: v.status === 'approved',
  amount: null,
  payee: null,
  date_created: twilioDate(v.createdAt),
  date_updated: twilioDate(v.updatedAt),
});

export const verificationResource = (v: Verification) => ({
  ...base(v),
  lookup: {},
  send_code_attempts: v.sends.map((s) => ({ attempt_sid: s.sid, channel: s.channel, time: twilioDate(s.at) })),
  sna: null,
  url: `https://verify.twilio.com/v2/Services/${v.serviceSid}/Verifications/${v.sid}`,
});

export const verificationCheckResource = (v: Verification) => ({
  ...base(v),
  sna_attempts_error_codes: [],
});
