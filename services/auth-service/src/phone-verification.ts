import { createHash, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, maskPhoneNumber, phoneNumberCountry, TokenSubjects, type TokenPair } from '@repo/contracts';
import { DEADLINE_MARGIN_MS, type Bus, type HandlerContext } from '@repo/bus';
import type { CodeClaim, GuessPolicy, VerificationLimits, VerificationLog } from '@repo/stores';
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
// An issued pair is kept this long, for a retry of its code whose answer was lost on the way.
const ISSUED_PAIR_KEEP_SECONDS = 30;
// A claim outlives its request's deadline by this much: the request's last writes may come late.
const CLAIM_AFTER_DEADLINE_MS = 1_000;
const MAX_CLAIM_MS = 30_000;
// How often a check looks again at a code a concurrent check of it holds.
const CLAIM_POLL_MS = 50;

// Refusals that spend the guessing budgets although they are no wrong code (see approve).
const guesses = new WeakSet<AppError>();

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
    // The number's sent record is written while Twilio sends, not before: one Redis round trip
    // less on every send. A send Twilio made is not given back, whatever fails after it.
    const recorded = log.recordSent(phone, SENT_RECORD_TTL_SECONDS);
    recorded.catch(() => undefined);
    let newCode: boolean;
    try {
      ({ newCode } = await provider.send(phone, channel));
    } catch (err) {
      // Nothing went out: the number may ask again at once and the budget is not spent.
      await recorded.catch(() => undefined);
      await limits.releaseSend(phone, reservation.hour).catch((releaseErr: unknown) => ctx.log.warn({ err: releaseErr }, 'could not give back a send'));
      throw err;
    }
    await recorded;
    if (newCode) await log.startCode(phone, TWILIO_CODE_TTL_SECONDS);
    ctx.log.info({ phone: maskPhoneNumber(phone), channel }, 'verification sent');
  }

  async check(phone: string, code: string, ctx: HandlerContext): Promise<TokenPair> {
    const { log, limits, policy } = this.deps;
    const startedAt = Date.now();
    const hash = codeHash(phone, code);
    const testCode = this.deps.testPhoneNumbers.get(phone);
    // The code's claim is asked for together with the guess (one Redis round trip, not two), and
    // acted on only once the guess is counted: each budget is spent before the check runs, so
    // concurrent guesses cannot overrun it.
    const firstClaim = testCode === undefined ? this.tryClaim(phone, hash, ctx) : undefined;
    firstClaim?.catch(() => undefined);
    try {
      await this.reserveGuess(phone, phone, policy.guesses, 'VERIFICATION_LOCKED', ctx);
    } catch (err) {
      if ((await firstClaim?.catch(() => undefined))?.state === 'claimed') await this.releaseClaim(phone, hash, ctx);
      throw err;
    }
    const counted = [phone];
    let holdsClaim = false;
    let tokens: TokenPair;
    try {
      let approved: boolean;
      // Twilio approved the code in this check (not in an earlier one whose tokens failed).
      let justApproved = false;
      if (testCode !== undefined) {
        // Twilio's per-code limit, for the fixed code of a test number.
        await this.reserveGuess(phone, testCodeKey(phone), TEST_CODE_GUESSES, 'VERIFICATION_MAX_ATTEMPTS', ctx);
        counted.push(testCodeKey(phone));
        approved = sameCode(testCode, code);
      } else {
        const claim = await this.claimCode(phone, hash, startedAt, ctx, firstClaim!);
        if (claim.state === 'issued') {
          // This code's tokens were issued before this check began: its answer was lost on the way
          // (auth-service -> gateway -> client). The same pair again; not a guess.
          ctx.log.info({ phone: maskPhoneNumber(phone) }, 'verification retried after its tokens were issued: same pair');
          await this.giveBackChecks(counted, ctx);
          return claim.pair;
        }
        holdsClaim = true;
        justApproved = !claim.approved && (await this.approve(phone, code, claim.otherCodeKept));
        approved = claim.approved || justApproved;
      }
      ctx.log.info({ phone: maskPhoneNumber(phone), approved }, 'verification checked');
      if (!approved) throw new AppError('INVALID_VERIFICATION_CODE');
      tokens = await this.issue(phone, justApproved ? hash : undefined, ctx);
    } catch (err) {
      // Only a guess spends the guessing budgets; a right code whose tokens failed keeps its
      // approval, and the retry with it issues tokens without asking Twilio again.
      if (holdsClaim) await this.releaseClaim(phone, hash, ctx);
      if (!(err instanceof AppError && (err.code === 'INVALID_VERIFICATION_CODE' || guesses.has(err)))) await this.giveBackChecks(counted, ctx);
      throw err;
    }
    // Both writes go out at once (one round trip). The guesses are forgotten even if marking the
    // code used fails: it was the right code, and the number's retry with it logs in.
    const [used, reset] = await Promise.allSettled([
      log.markUsed(phone, hash, SENT_RECORD_TTL_SECONDS, holdsClaim ? { pair: tokens, issuedAt: Date.now(), keepSeconds: ISSUED_PAIR_KEEP_SECONDS } : undefined),
      Promise.all(counted.map((key) => limits.resetChecks(key))),
    ]);
    if (used.status === 'rejected') {
      // The pair is lost with this answer, but the approval is still on record: freed at once, the
      // user's retry issues tokens (instead of 409 until this claim expires).
      if (holdsClaim) await this.releaseClaim(phone, hash, ctx);
      await this.giveBackChecks(counted, ctx);
      throw used.reason;
    }
    if (reset.status === 'rejected') throw reset.reason;
    return tokens;
  }

  private async reserveGuess(phone: string, key: string, guesses: GuessPolicy, refusal: 'VERIFICATION_LOCKED' | 'VERIFICATION_MAX_ATTEMPTS', ctx: HandlerContext): Promise<void> {
    const reservation = await this.deps.limits.reserveCheck(key, guesses);
    if (reservation.allowed) return;
    ctx.log.warn({ phone: maskPhoneNumber(phone), refusal }, 'verification refused: too many wrong codes');
    throw new AppError(refusal, undefined, { retryAfter: reservation.retryAfterSeconds });
  }

  private async giveBackChecks(counted: string[], ctx: HandlerContext): Promise<void> {
    for (const key of counted) await this.deps.limits.releaseCheck(key).catch((err: unknown) => ctx.log.warn({ err }, 'could not give back a check'));
  }

  private async releaseClaim(phone: string, hash: string, ctx: HandlerContext): Promise<void> {
    await this.deps.log.releaseClaim(phone, hash).catch((err: unknown) => ctx.log.warn({ err }, 'could not release a verification claim; it expires with its request'));
  }

  /**
   * Takes the code's claim, so this check alone asks Twilio and issues its tokens. While a
   * concurrent check of the same code holds it, waits for its outcome (within this request's
   * time): tokens issued meanwhile, or still held at the end, make this one
   * VERIFICATION_ALREADY_USED, so one code logs in once; a claim released without tokens is ours.
   * The claim lasts as long as this request, so a check that died frees it when its caller gave up.
   * `first` is the first attempt (see check), already under way.
   */
  private async claimCode(phone: string, hash: string, startedAt: number, ctx: HandlerContext, first: Promise<CodeClaim>): Promise<Exclude<CodeClaim, { state: 'busy' }>> {
    for (let attempt = first; ; attempt = this.tryClaim(phone, hash, ctx)) {
      const claim = await attempt;
      if (claim.state === 'claimed') return claim;
      if (claim.state === 'issued') {
        // Issued before this check began (the same millisecond counts): a retry. Issued while it
        // ran: it was a concurrent check of the code, which logs in once.
        if (claim.issuedAt <= startedAt) return claim;
        throw new AppError('VERIFICATION_ALREADY_USED');
      }
      if (Date.now() + CLAIM_POLL_MS >= ctx.deadline - DEADLINE_MARGIN_MS) throw new AppError('VERIFICATION_ALREADY_USED');
      await sleep(CLAIM_POLL_MS);
    }
  }

  /** One attempt at the code's claim, for as long as this request (and its last writes) may take. */
  private tryClaim(phone: string, hash: string, ctx: HandlerContext): Promise<CodeClaim> {
    const claimMs = Math.min(MAX_CLAIM_MS, Math.max(0, ctx.deadline - Date.now()) + CLAIM_AFTER_DEADLINE_MS);
    return this.deps.log.claimCode(phone, hash, claimMs);
  }

  /**
   * token-service's pair for the number. The approval of a code Twilio approved in this check
   * (`approvedHash`) is recorded meanwhile, for a retry should the tokens fail, rather than
   * before: one round trip less. As when one came after the other, both must succeed: an approval
   * that could not be recorded fails the check (the session issued meanwhile is never handed out;
   * it expires).
   */
  private async issue(phone: string, approvedHash: string | undefined, ctx: HandlerContext): Promise<TokenPair> {
    const recorded = approvedHash === undefined ? undefined : this.deps.log.recordApproval(phone, approvedHash, APPROVAL_TTL_SECONDS);
    const issued = this.deps.bus.request(TokenSubjects.issuePair, { phone_number: phone }, { requestId: ctx.requestId });
    const [recording, issuing] = await Promise.allSettled([recorded, issued]);
    // Redis failing right here loses the code (Twilio spent it, nothing on record): a known limit.
    if (recording.status === 'rejected') throw recording.reason;
    if (issuing.status === 'rejected') throw issuing.reason;
    return issuing.value;
  }

  /** Asks Twilio; the caller holds the code's claim. true when approved (`issue` records it for a retry). */
  private async approve(phone: string, code: string, otherCodeKept: boolean): Promise<boolean> {
    const { log, provider } = this.deps;
    try {
      if (!(await provider.check(phone, code))) {
        await log.recordWrongCode(phone);
        return false;
      }
    } catch (err) {
      if (!(err instanceof NothingPendingError)) throw err;
      // Twilio has nothing pending: deleted after too many wrong codes, expired, never sent, or traded.
      const reason = await this.whyNothingPending(phone);
      // Like Twilio's own 60202: a new code may be asked for once the spent one's life is over.
      const why = new AppError(reason, undefined, reason === 'VERIFICATION_MAX_ATTEMPTS' ? { retryAfter: TWILIO_CODE_TTL_SECONDS } : {});
      // Just after a login its pair is kept, and the right code would fetch it: any other code is a guess.
      if (why.code === 'VERIFICATION_ALREADY_USED' && otherCodeKept) guesses.add(why);
      throw why;
    }
    return true;
  }

  private async whyNothingPending(phone: string): Promise<'VERIFICATION_ALREADY_USED' | 'VERIFICATION_MAX_ATTEMPTS' | 'VERIFICATION_EXPIRED' | 'VERIFICATION_NOT_FOUND'> {
    const { log } = this.deps;
    const last = await log.lastCode(phone);
    if (last === 'used') return 'VERIFICATION_ALREADY_USED';
    if (last === undefined) return 'VERIFICATION_NOT_FOUND';
    return (await log.wrongCodes(phone)) >= TWILIO_CHECKS_PER_CODE ? 'VERIFICATION_MAX_ATTEMPTS' : 'VERIFICATION_EXPIRED';
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
