import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError, maskPhoneNumber, phoneNumberCountry, TokenSubjects, type TokenPair } from '@repo/contracts';
import type { Bus, HandlerContext } from '@repo/bus';
import type { GuessPolicy, VerificationLimits, VerificationLog } from '@repo/stores';
import type { VerificationPolicy } from './config.ts';
import { NothingPendingError, type Channel, type VerifyProvider } from './twilio-verify.ts';

// Longer than Twilio's 10-minute code life, so a late check is answered "expired", not "never sent".
const SENT_RECORD_TTL_SECONDS = 24 * 60 * 60;
// As long as a code lives at Twilio: the user's retry after a failed token issue fits in it.
const APPROVAL_TTL_SECONDS = 10 * 60;
// Twilio allows 5 checks of a code, which lives 10 minutes; a test number's fixed code gets the same.
const TWILIO_CHECKS_PER_CODE = 5;
const TWILIO_CODE_TTL_SECONDS = 10 * 60;
const TEST_CODE_GUESSES: GuessPolicy = { maxWrongCodes: TWILIO_CHECKS_PER_CODE, windowSeconds: TWILIO_CODE_TTL_SECONDS };
const testCodeKey = (phone: string) => `${phone}:test-code`;

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
      const { newCode } = await provider.send(phone, channel);
      if (newCode) await log.startCode(phone, TWILIO_CODE_TTL_SECONDS);
    } catch (err) {
      // Nothing went out: the number may ask again at once and the budget is not spent.
      await limits.releaseSend(phone, reservation.hour).catch((releaseErr: unknown) => ctx.log.warn({ err: releaseErr }, 'could not give back a send'));
      throw err;
    }
    ctx.log.info({ phone: maskPhoneNumber(phone), channel }, 'verification sent');
  }

  async check(phone: string, code: string, ctx: HandlerContext): Promise<TokenPair> {
    const { log, limits, policy, bus } = this.deps;
    // Each budget is spent before the check runs, so concurrent guesses cannot overrun it.
    await this.reserveGuess(phone, phone, policy.guesses, 'VERIFICATION_LOCKED', ctx);
    const counted = [phone];
    const hash = codeHash(phone, code);
    let holdsApproval = false;
    let tokens: TokenPair;
    try {
      const testCode = this.deps.testPhoneNumbers.get(phone);
      if (testCode !== undefined) {
        // Twilio's per-code limit, for the fixed code of a test number.
        await this.reserveGuess(phone, testCodeKey(phone), TEST_CODE_GUESSES, 'VERIFICATION_MAX_ATTEMPTS', ctx);
        counted.push(testCodeKey(phone));
      }
      const approved = testCode !== undefined ? sameCode(testCode, code) : await this.approve(phone, code, hash);
      holdsApproval = approved && testCode === undefined;
      ctx.log.info({ phone: maskPhoneNumber(phone), approved }, 'verification checked');
      if (!approved) throw new AppError('INVALID_VERIFICATION_CODE');
      tokens = await bus.request(TokenSubjects.issuePair, { phone_number: phone }, { requestId: ctx.requestId });
    } catch (err) {
      // Only a wrong code spends the guessing budgets; a right code whose tokens failed keeps its
      // approval, and the retry with it issues tokens without asking Twilio again.
      const wrong = err instanceof AppError && err.code === 'INVALID_VERIFICATION_CODE';
      if (holdsApproval) await log.releaseApproval(phone, hash).catch((releaseErr: unknown) => ctx.log.warn({ err: releaseErr }, 'could not release an approval'));
      if (!wrong) {
        for (const key of counted) await limits.releaseCheck(key).catch((releaseErr: unknown) => ctx.log.warn({ err: releaseErr }, 'could not give back a check'));
      }
      throw err;
    }
    await log.markUsed(phone, hash, SENT_RECORD_TTL_SECONDS);
    for (const key of counted) await limits.resetChecks(key);
    return tokens;
  }

  private async reserveGuess(phone: string, key: string, guesses: GuessPolicy, refusal: 'VERIFICATION_LOCKED' | 'VERIFICATION_MAX_ATTEMPTS', ctx: HandlerContext): Promise<void> {
    const reservation = await this.deps.limits.reserveCheck(key, guesses);
    if (reservation.allowed) return;
    ctx.log.warn({ phone: maskPhoneNumber(phone), refusal }, 'verification refused: too many wrong codes');
    throw new AppError(refusal, undefined, { retryAfter: reservation.retryAfterSeconds });
  }

  /**
   * true when the code is approved and this caller holds the claim to issue its tokens. Twilio is
   * asked unless an approval of this very code is on record (a retry after tokens could not be
   * issued); a code being traded by a concurrent check is VERIFICATION_ALREADY_USED, so one code
   * logs in once.
   */
  private async approve(phone: string, code: string, hash: string): Promise<boolean> {
    const { log, provider } = this.deps;
    if (await this.claimRecordedApproval(phone, hash)) return true;
    try {
      if (!(await provider.check(phone, code))) {
        await log.recordWrongCode(phone);
        return false;
      }
    } catch (err) {
      if (!(err instanceof NothingPendingError)) throw err;
      // Twilio has nothing pending: approved meanwhile by a concurrent check of this code, deleted
      // after too many wrong codes, expired, never sent, or already traded.
      if (await this.claimRecordedApproval(phone, hash)) return true;
      throw new AppError(await this.whyNothingPending(phone));
    }
    await log.recordApproval(phone, hash, APPROVAL_TTL_SECONDS);
    return true;
  }

  private async whyNothingPending(phone: string): Promise<'VERIFICATION_ALREADY_USED' | 'VERIFICATION_MAX_ATTEMPTS' | 'VERIFICATION_EXPIRED' | 'VERIFICATION_NOT_FOUND'> {
    const { log } = this.deps;
    const last = await log.lastCode(phone);
    if (last === 'used') return 'VERIFICATION_ALREADY_USED';
    if (last === undefined) return 'VERIFICATION_NOT_FOUND';
    return (await log.wrongCodes(phone)) >= TWILIO_CHECKS_PER_CODE ? 'VERIFICATION_MAX_ATTEMPTS' : 'VERIFICATION_EXPIRED';
  }

  private async claimRecordedApproval(phone: string, hash: string): Promise<boolean> {
    const claim = await this.deps.log.claimApproval(phone, hash);
    if (claim === 'busy') throw new AppError('VERIFICATION_ALREADY_USED');
    return claim === 'claimed';
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
