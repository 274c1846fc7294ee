import { isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { AppError } from './errors.ts';

/**
 * Validates a phone number and returns it in E.164 (`+15551234567`). Numbers must carry their
 * country code: without a region hint "0612345678" is ambiguous, and guessing would log people
 * into someone else's account.
 */
export function normalizePhoneNumber(input: string): string {
  const trimmed = input.trim();
  if (!/^\+?[\d\s().-]{7,24}$/.test(trimmed)) {
    throw new AppError('INVALID_PHONE_NUMBER', 'phone_number must be a phone number in international format, e.g. +14155552671');
  }
  const withPlus = trimmed.startsWith('+') ? trimmed : `+${trimmed}`;
  const parsed = parsePhoneNumberFromString(withPlus);
  if (!parsed || !parsed.isValid()) {
    throw new AppError('INVALID_PHONE_NUMBER', 'phone_number is not a valid phone number; use international format, e.g. +14155552671');
  }
  return parsed.number;
}

/** The ISO 3166-1 alpha-2 country of an E.164 number (`+14155552671` -> `US`), if it has one. */
export function phoneNumberCountry(phone: string): string | undefined {
  return parsePhoneNumberFromString(phone)?.country;
}

/** Whether `code` is an ISO country code that phone numbers can belong to (`US`, `GB`, ...). */
export function isPhoneNumberCountry(code: string): boolean {
  return isSupportedCountry(code);
}

/** `+14155552671` -> `*******2671`, for logs. */
export function maskPhoneNumber(phone: string): string {
  if (phone.length <= 4) return '****';
  return `${'*'.repeat(phone.length - 4)}${phone.slice(-4)}`;
}
