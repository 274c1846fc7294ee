import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError, maskPhoneNumber, phoneNumberCountry, TokenSubjects, type TokenPair } from '@repo/contracts';
import type { Bus, HandlerContext } from '@repo/bus';
import type { VerificationLimits, VerificationLog } from '@repo/stores';
import type { VerificationPolicy } from './config.ts';
import { NothingPendingError, type Channel, type VerifyProvider } from './twilio-verify.ts';

// Longer than Twilio's 10-minute code life, so a late check is answered "expired", not "never sent".
const SENT_RECORD_TTL_SECONDS = 24 * 60 * 60;
// As long as a code lives at Twilio: the user's retry after a failed token issue fits in it.
const APPROVAL_TTL_SECONDS = 10 * 60;

export interface PhoneVerificationDeps {
  provider: VerifyProvider;
  log: VerificationLog;
  limits: VerificationLimits;
  policy: VerificationPolicy;
  testPhoneNumbers: ReadonlyMap<string, string>;
  bus: Bus;
}

/** Sends and checks codes under the abuse limits; an approved code becomes a token pair from token-service. */
export class PhoneVerification {
  constructor(private readonly deps: PhoneVerificationDeps) {}

  async send(phone: string, channel: Channel, ctx: HandlerContext): Promise<void> {
    const { provider, log, limits, policy } = this.deps;
    if (this.deps.testPhoneNumbers.has(phone)) {
      ctx.log.info({ phone: maskPhoneNumber(phone) }, 'test phone number: no code sent');
      return;
    }
    this.assertCountryAllowed(phone, ctx);
    // Counted first: if Redis is down we fail before an SMS goes out, not after.
    const reservation = await limits.reserveSend(phone, policy.send);
    if (!reservation.allowed) {
      ctx.log.warn({ phone: maskPhoneNumber(phone), limit: reservation.limit }, 'verification send refused by a limit');
      const code = reservation.limit === 'min-interval' ? 'VERIFICATION_SEND_TOO_SOON' : 'VERIFICATION_BUDGET_EXHAUSTED';
      throw new AppError(code, undefined, { retryAfter: reservation.retryAfterSeconds });
    }
    try {
      await log.recordSent(phone, SENT_RECORD_TTL_SECONDS);
      await provider.send(phone, channel);
    } catch (err) {
      // Nothing went out: the number may ask again at once and the budget is not spent.
      await limits.releaseSend(phone, reservation.hour).catch((releaseErr: unknown) => ctx.log.warn({ err: releaseErr }, 'could not give back a send'));
      throw err;
    }
    ctx.log.info({ phone: maskPhoneNumber(phone), channel }, 'verification sent');
  }

  async check(phone: string, code: string, ctx: HandlerContext): Promise<TokenPair> {
    const { log, limits, policy, bus } = this.deps;
    const reservation = await limits.reserveCheck(phone, policy.guesses);
    if (!reservation.allowed) {
      ctx.log.warn({ phone: maskPhoneNumber(phone) }, 'verification locked: too many wrong codes');
      throw new AppError('VERIFICATION_LOCKED', undefined, { retryAfter: reservation.retryAfterSeconds });
    }
    const hash = codeHash(phone, code);
    let approved: boolean;
    let tokens: TokenPair;
    try {
      approved = await this.isApproved(phone, code, hash);
      ctx.log.info({ phone: maskPhoneNumber(phone), approved }, 'verification checked');
      if (!approved) throw new AppError('INVALID_VERIFICATION_CODE');
      tokens = await bus.request(TokenSubjects.issuePair, { phone_number: phone }, { requestId: ctx.requestId });
    } catch (err) {
      // Only a wrong code spends the guessing budget; a right code whose tokens failed keeps its
      // approval, and the retry with it issues tokens without asking Twilio again.
      const wrong = err instanceof AppError && err.code === 'INVALID_VERIFICATION_CODE';
      if (!wrong) await limits.releaseCheck(phone).catch((releaseErr: unknown) => ctx.log.warn({ err: releaseErr }, 'could not give back a check'));
      throw err;
    }
    await log.markUsed(phone, hash, SENT_RECORD_TTL_SECONDS);
    await limits.resetChecks(phone);
    return tokens;
  }

  private async isApproved(phone: string, code: string, hash: string): Promise<boolean> {
    const { log, provider } = this.deps;
    const testCode = this.deps.testPhoneNumbers.get(phone);
    if (testCode !== undefined) return sameCode(testCode, code);
    if (await log.hasApproval(phone, hash)) return true;
    try {
      if (!(await provider.check(phone, code))) return false;
    } catch (err) {
      if (!(err instanceof NothingPendingError)) throw err;
      // Twilio has nothing pending: the code expired, was never sent, or was already traded.
      if (await log.hasApproval(phone, hash)) return true;
      const last = await log.lastCode(phone);
      throw new AppError(last === 'used' ? 'VERIFICATION_ALREADY_USED' : last === 'sent' ? 'VERIFICATION_EXPIRED' : 'VERIFICATION_NOT_FOUND');
    }
    await log.recordApproval(phone, hash, APPROVAL_TTL_SECONDS);
    return true;
  }

  private assertCountryAllowed(phone: string, ctx: HandlerContext): void {
    const allowed = this.deps.policy.allowedCountries;
    if (!allowed) return;
    const country = phoneNumberCountry(phone);
    if (country !== undefined && allowed.has(country)) return;
    ctx.log.warn({ phone: maskPhoneNumber(phone), country }, 'verification send refused: country not allowed');
    throw new AppError('PHONE_COUNTRY_NOT_ALLOWED', country ? `Verification codes cannot be sent to phone numbers of ${country}` : undefined);
  }
}

/** The approval record's key: the code itself is never stored. */
function codeHash(phone: string, code: string): string {
  return createHash('sha256').update(`${phone}:${code}`).digest('base64url');
}

/** Compares in constant time (over the digests, so lengths do not leak either). */
function sameCode(expected: string, given: string): boolean {
  const digest = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(expected), digest(given));
}
