/**
 * Which requests the emulator refuses the way Twilio would for reasons it cannot see offline: a
 * landline, a prefix Fraud Guard blocked, a country Geo Permissions disable, and one-off limits
 * (20429, 60212, ...) that tests queue with `POST /_emulator/failures`.
 */
import { twilioRefusal, type TwilioError, type TwilioRefusalCode } from './twilio-errors.ts';
import type { Channel } from './verification-store.ts';

export type Operation = 'send' | 'check' | 'fetch' | 'update';

export interface RefusalRules {
  /** Numbers that cannot take an SMS or WhatsApp code: 60205 (a call still works). */
  landlines?: readonly string[] | undefined;
  /** E.164 prefixes blocked by Fraud Guard: 60410 on a send. */
  blockedPrefixes?: readonly string[] | undefined;
  /** E.164 prefixes (countries, regions) disabled in Verify Geo Permissions: 60605 on a send. */
  geoBlockedPrefixes?: readonly string[] | undefined;
}

export interface QueuedFailure {
  code: TwilioRefusalCode;
  /** Only requests of this operation; any when unset. */
  operation?: Operation | undefined;
  /** Only requests for this recipient; any when unset. */
  to?: string | undefined;
  /** How many matching requests fail; 1 when unset. */
  times?: number | undefined;
}

export class Refusals {
  readonly #rules: RefusalRules;
  #queue: Array<QueuedFailure & { times: number }> = [];

  constructor(rules: RefusalRules) {
    this.#rules = rules;
  }

  queue(failure: QueuedFailure): void {
    this.#queue.push({ ...failure, times: failure.times ?? 1 });
  }

  clear(): void {
    this.#queue = [];
  }

  /** A queued failure that matches this request, spent as it is returned. */
  takeQueued(operation: Operation, to: string | undefined): TwilioError | undefined {
    const failure = this.#queue.find(
      (f) => (f.operation === undefined || f.operation === operation) && (f.to === undefined || f.to === to),
    );
    if (!failure) return undefined;
    failure.times -= 1;
    if (failure.times <= 0) this.#queue = this.#queue.filter((f) => f !== failure);
    return twilioRefusal(failure.code);
  }

  /** What Twilio answers a send to this destination instead of sending, if anything. */
  forSend(to: string, channel: Channel): TwilioError | undefined {
    const startsWithAny = (prefixes: readonly string[] | undefined) => prefixes?.some((p) => to.startsWith(p)) ?? false;
    if (channel !== 'email' && startsWithAny(this.#rules.geoBlockedPrefixes)) return twilioRefusal(60605);
    if (channel !== 'email' && startsWithAny(this.#rules.blockedPrefixes)) return twilioRefusal(60410);
    if ((channel === 'sms' || channel === 'whatsapp') && this.#rules.landlines?.includes(to)) return twilioRefusal(60205);
    return undefined;
  }
}
