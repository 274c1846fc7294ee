import { describe, expect, it } from 'vitest';
import { AppError, maskPhoneNumber, normalizePhoneNumber } from '../src/index.ts';

describe('normalizePhoneNumber', () => {
  it('normalises formatted international numbers to E.164', () => {
    expect(normalizePhoneNumber('+1 (415) 555-2671')).toBe('+14155552671');
    expect(normalizePhoneNumber(' +44 20 7946 0958 ')).toBe('+442079460958');
    expect(normalizePhoneNumber('14155552671')).toBe('+14155552671');
  });

  it('accepts the Twilio magic test number', () => {
    expect(normalizePhoneNumber('+15005550006')).toBe('+15005550006');
  });

  it.each(['', 'abc', '+1', '+1234', '+999999999999', '+1415555267a', '+1 415 555 2671 ext 3'])(
    'rejects %j with INVALID_PHONE_NUMBER',
    (input) => {
      const err = (() => {
        try {
          normalizePhoneNumber(input);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('INVALID_PHONE_NUMBER');
      expect((err as AppError).statusCode).toBe(400);
    },
  );

  it('masks all but the last four digits', () => {
    expect(maskPhoneNumber('+14155552671')).toBe('********2671');
  });
});

describe('AppError', () => {
  it('round-trips through its body and keeps status, code and message', () => {
    const err = new AppError('VERIFICATION_SEND_LIMIT', undefined, { retryAfter: 60 });
    const back = AppError.fromBody(JSON.parse(JSON.stringify(err.toBody())));
    expect(back.code).toBe('VERIFICATION_SEND_LIMIT');
    expect(back.statusCode).toBe(429);
    expect(back.retryAfter).toBe(60);
    expect(back.toBody()).toEqual({
      statusCode: 429,
      error: 'Too Many Requests',
      code: 'VERIFICATION_SEND_LIMIT',
      message: 'Too many codes sent to this phone number; try again later',
      retry_after: 60,
    });
  });

  it('turns an unknown code into a generic INTERNAL without leaking its message', () => {
    const err = AppError.fromBody({ code: 'SOMETHING_ELSE', message: 'stack trace here' });
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe('Internal server error');
  });
});
