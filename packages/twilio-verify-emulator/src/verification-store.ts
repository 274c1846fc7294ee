import { randomBytes, randomInt } from 'node:crypto';
import type { EmulatorClock } from './clock.ts';
import type { Outbox } from './outbox.ts';
import { maxCheckAttemptsReached, maxSendAttemptsReached } from './twilio-errors.ts';

export const CHANNELS = ['sms', 'call', 'whatsapp', 'email'] as const;
export type Channel = (typeof CHANNELS)[number];

const E164 = /^\+[1-9]\d{6,14}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export const isValidRecipient = (channel: Channel, to: string): boolean =>
  channel === 'email' ? EMAIL.test(to) : E164.test(to);

/** A check may name the recipient by phone or by email, whichever channel it was sent on. */
export const isAnyRecipient = (to: string): boolean => E164.test(to) || EMAIL.test(to);

export type VerificationStatus = 'pending' | 'approved' | 'canceled' | 'max_attempts_reached';

export interface SendAttempt {
  sid: string;
  channel: Channel;
  at: number;
}

export interface Verification {
  sid: string;
  accountSid: string;
  serviceSid: string;
  to: string;
  channel: Channel;
  status: VerificationStatus;
  code: string;
  createdAt: number;
  updatedAt: number;
  sends: SendAttempt[];
  failedChecks: number;
}

/** Services belong to an account: another account's verifications are invisible. */
export interface ServiceRef {
  accountSid: string;
  serviceSid: string;
}

export interface VerificationRules {
  codeTtlSeconds: number;
  maxCheckAttempts: number;
  maxSendAttempts: number;
}

export const twilioSid = (prefix: string): string => prefix + randomBytes(16).toString('hex');

/**
 * Pending verifications and Twilio's rules for them. Only pending ones are kept: once approved,
 * canceled or expired, Twilio forgets a verification and answers 20404.
 */
export class VerificationStore {
  readonly #pending = new Map<string, Verification>();
  readonly #rules: VerificationRules;
  readonly #clock: EmulatorClock;
  readonly #outbox: Outbox;

  constructor(rules: VerificationRules, clock: EmulatorClock, outbox: Outbox) {
    this.#rules = rules;
    this.#clock = clock;
    this.#outbox = outbox;
  }

  /** A resend within the validity window reuses the verification and its code, as Twilio does. */
  send(service: ServiceRef, to: string, channel: Channel, friendlyName?: string): Verification {
    const now = this.#clock.now();
    let verification = this.#findByRecipient(service, to);
    if (verification && verification.sends.length >= this.#rules.maxSendAttempts) throw maxSendAttemptsReached(this.#secondsLeft(verification));
    if (!verification) {
      verification = {
        sid: twilioSid('VE'),
        ...service,
        to,
        channel,
        status: 'pending',
        code: String(randomInt(0, 1_000_000)).padStart(6, '0'),
        createdAt: now,
        updatedAt: now,
        sends: [],
        failedChecks: 0,
      };
      this.#pending.set(verification.sid, verification);
    }
    verification.sends.push({ sid: twilioSid('VL'), channel, at: now });
    verification.channel = channel;
    verification.updatedAt = now;
    this.#outbox.append({
      to,
      channel,
      code: verification.code,
      body: `Your ${friendlyName ? `${friendlyName} ` : ''}verification code is: ${verification.code}`,
      created_at: new Date(now).toISOString(),
    });
    return { ...verification };
  }

  /**
   * Returns the verification as it stands after the check, or undefined when nothing is pending.
   * A wrong code is answered `pending` up to the limit; the next check is 60202 and deletes it.
   */
  check(service: ServiceRef, target: { to?: string; verificationSid?: string }, code: string): Verification | undefined {
    const verification =
      target.verificationSid !== undefined
        ? this.find(service, target.verificationSid)
        : this.#findByRecipient(service, target.to ?? '');
    if (!verification) return undefined;
    if (verification.failedChecks >= this.#rules.maxCheckAttempts) {
      // Twilio refuses the check after the last allowed one and deletes the verification: from
      // then on it is 20404, like an expired or approved one.
      this.#pending.delete(verification.sid);
      throw maxCheckAttemptsReached(this.#secondsLeft(verification));
    }
    verification.updatedAt = this.#clock.now();
    if (code !== verification.code) {
      verification.failedChecks += 1;
      return { ...verification };
    }
    return this.#close(verification, 'approved');
  }

  find(service: ServiceRef, sid: string): Verification | undefined {
    const verification = this.#pending.get(sid);
    if (!verification || !this.#isLive(verification)) return undefined;
    return sameService(verification, service) ? verification : undefined;
  }

  /** A fetch: once its checks are used up, a verification reads `max_attempts_reached` until deleted. */
  describe(service: ServiceRef, sid: string): Verification | undefined {
    const verification = this.find(service, sid);
    if (!verification) return undefined;
    const exhausted = verification.failedChecks >= this.#rules.maxCheckAttempts;
    return { ...verification, status: exhausted ? 'max_attempts_reached' : verification.status };
  }

  /** Twilio's "Update a Verification": approve (custom codes) or cancel a pending one. */
  update(service: ServiceRef, sid: string, status: 'approved' | 'canceled'): Verification | undefined {
    const verification = this.find(service, sid);
    if (!verification) return undefined;
    verification.updatedAt = this.#clock.now();
    return this.#close(verification, status);
  }

  #findByRecipient(service: ServiceRef, to: string): Verification | undefined {
    for (const verification of this.#pending.values()) {
      // Liveness first, so that expired entries are swept as the loop passes them.
      if (this.#isLive(verification) && verification.to === to && sameService(verification, service)) return verification;
    }
    return undefined;
  }

  /** Whole seconds (at least 1) until the verification expires. */
  #secondsLeft(verification: Verification): number {
    return Math.max(1, Math.ceil((verification.createdAt + this.#rules.codeTtlSeconds * 1000 - this.#clock.now()) / 1000));
  }

  /** Expiry is lazy: an expired verification is dropped the first time anyone looks at it. */
  #isLive(verification: Verification): boolean {
    const expired = this.#clock.now() >= verification.createdAt + this.#rules.codeTtlSeconds * 1000;
    if (expired) this.#pending.delete(verification.sid);
    return !expired;
  }

  #close(verification: Verification, status: VerificationStatus): Verification {
    this.#pending.delete(verification.sid);
    return { ...verification, status };
  }
}

const sameService = (verification: Verification, service: ServiceRef): boolean =>
  verification.accountSid === service.accountSid && verification.serviceSid === service.serviceSid;
