import { AppError, maskPhoneNumber, TokenSubjects, type TokenPair } from '@repo/contracts';
import type { Bus, HandlerContext } from '@repo/bus';
import type { VerificationLog } from '@repo/stores';
import { NothingPendingError, type Channel, type VerifyProvider } from './twilio-verify.ts';

// Longer than Twilio's 10-minute code life, so a late check is answered "expired", not "never sent".
const SENT_RECORD_TTL_SECONDS = 24 * 60 * 60;

/** Sends and checks codes; an approved code becomes a token pair from token-service. */
export class PhoneVerification {
  constructor(
    private readonly provider: VerifyProvider,
    private readonly sentLog: VerificationLog,
    private readonly testPhoneNumbers: Map<string, string>,
    private readonly bus: Bus,
  ) {}

  async send(phone: string, channel: Channel, ctx: HandlerContext): Promise<void> {
    if (this.testPhoneNumbers.has(phone)) {
      ctx.log.info({ phone: maskPhoneNumber(phone) }, 'test phone number: no code sent');
      return;
    }
    // Recorded first: if Redis is down we fail before an SMS goes out, not after.
    await this.sentLog.recordSent(phone, SENT_RECORD_TTL_SECONDS);
    await this.provider.send(phone, channel);
    ctx.log.info({ phone: maskPhoneNumber(phone), channel }, 'verification sent');
  }

  async check(phone: string, code: string, ctx: HandlerContext): Promise<TokenPair> {
    const approved = await this.isApproved(phone, code);
    ctx.log.info({ phone: maskPhoneNumber(phone), approved }, 'verification checked');
    if (!approved) throw new AppError('INVALID_VERIFICATION_CODE');
    const tokens = await this.bus.request(TokenSubjects.issuePair, { phone_number: phone }, { requestId: ctx.requestId });
    await this.sentLog.clear(phone);
    return tokens;
  }

  private async isApproved(phone: string, code: string): Promise<boolean> {
    const testCode = this.testPhoneNumbers.get(phone);
    if (testCode !== undefined) return testCode === code;
    try {
      return await this.provider.check(phone, code);
    } catch (err) {
      if (!(err instanceof NothingPendingError)) throw err;
      throw new AppError((await this.sentLog.wasSent(phone)) ? 'VERIFICATION_EXPIRED' : 'VERIFICATION_NOT_FOUND');
    }
  }
}
