import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { AuthSubjects, PlaidSubjects, TokenSubjects, isPhoneNumberCountry, phoneNumberCountry, type Endpoint } from '../src/index.ts';

// Every service re-validates what reaches it over the bus against these schemas, whoever sent it.
const accepts = (endpoint: Endpoint, payload: unknown) => Value.Check(endpoint.request, payload);

describe('NATS request schemas', () => {
  it('of auth-service and token-service refuse a property they do not define', () => {
    const phone_number = '+14155552671';
    const valid: Array<[Endpoint, Record<string, unknown>]> = [
      [AuthSubjects.sendVerification, { phone_number, channel: 'sms' }],
      [AuthSubjects.checkVerification, { phone_number, code: '123456' }],
      [TokenSubjects.issuePair, { phone_number }],
      [TokenSubjects.refreshPair, { refresh_token: 'a.b.c' }],
      [TokenSubjects.revokeSession, { sub: phone_number, sid: 'sid-1' }],
      [TokenSubjects.revokeSubject, { sub: phone_number }],
      [TokenSubjects.publicKeys, {}],
    ];
    for (const [endpoint, payload] of valid) {
      expect(accepts(endpoint, payload), endpoint.subject).toBe(true);
      expect(accepts(endpoint, { ...payload, admin: true }), `${endpoint.subject} + admin`).toBe(false);
    }
    expect(valid.map(([e]) => e.subject).sort()).toEqual([...Object.values(AuthSubjects), ...Object.values(TokenSubjects)].map((e) => e.subject).sort());
  });

  it('take only strict E.164 phone numbers', () => {
    expect(accepts(AuthSubjects.sendVerification, { phone_number: '+14155552671', channel: 'sms' })).toBe(true);
    for (const phone_number of ['14155552671', '+1 415 555 2671', '+04155552671', '+1415', '+1234567890123456', '', '+14155552671\n']) {
      expect(accepts(AuthSubjects.sendVerification, { phone_number, channel: 'sms' }), JSON.stringify(phone_number)).toBe(false);
      expect(accepts(TokenSubjects.issuePair, { phone_number }), JSON.stringify(phone_number)).toBe(false);
      expect(accepts(TokenSubjects.revokeSubject, { sub: phone_number }), JSON.stringify(phone_number)).toBe(false);
      expect(accepts(PlaidSubjects.createLinkToken, { user: phone_number }), JSON.stringify(phone_number)).toBe(false);
    }
  });

  it('take only known channels and 4-10 digit codes', () => {
    expect(accepts(AuthSubjects.sendVerification, { phone_number: '+14155552671', channel: 'pigeon' })).toBe(false);
    expect(accepts(AuthSubjects.checkVerification, { phone_number: '+14155552671', code: '123456' })).toBe(true);
    for (const code of ['123', '12345678901', '12a456', ' 123456', '']) {
      expect(accepts(AuthSubjects.checkVerification, { phone_number: '+14155552671', code }), code).toBe(false);
    }
  });

  it('bound token and session ids', () => {
    expect(accepts(TokenSubjects.refreshPair, { refresh_token: 'x'.repeat(4097) })).toBe(false);
    expect(accepts(TokenSubjects.refreshPair, { refresh_token: '' })).toBe(false);
    expect(accepts(TokenSubjects.revokeSession, { sub: '+14155552671', sid: '6f1c2a9e-0b1d-4c55-9a3e-6b9f3c2d1e0f' })).toBe(true);
    expect(accepts(TokenSubjects.revokeSession, { sub: '+14155552671', sid: 'a b' })).toBe(false);
    expect(accepts(TokenSubjects.revokeSession, { sub: '+14155552671', sid: 'a'.repeat(129) })).toBe(false);
  });

  it('bound Plaid ids, tokens and cursors', () => {
    const user = '+14155552671';
    expect(accepts(PlaidSubjects.exchangePublicToken, { user, public_token: 'public-sandbox-1' })).toBe(true);
    expect(accepts(PlaidSubjects.exchangePublicToken, { user, public_token: 'p'.repeat(513) })).toBe(false);
    expect(accepts(PlaidSubjects.removeItem, { user, item_id: '' })).toBe(false);
    expect(accepts(PlaidSubjects.listTransactions, { user, count: 10, cursor: 'c'.repeat(513) })).toBe(false);
    expect(accepts(PlaidSubjects.listTransactions, { user, count: 10_000 })).toBe(false);
    expect(accepts(PlaidSubjects.createSandboxPublicToken, { user, institution_id: 'i'.repeat(65) })).toBe(false);
  });
});

describe('phone number countries', () => {
  it('names the country of a number and knows country codes', () => {
    expect(phoneNumberCountry('+14155552671')).toBe('US');
    expect(phoneNumberCountry('+442079460958')).toBe('GB');
    expect(phoneNumberCountry('+33612345678')).toBe('FR');
    expect(isPhoneNumberCountry('CA')).toBe(true);
    expect(isPhoneNumberCountry('XX')).toBe(false);
  });
});
