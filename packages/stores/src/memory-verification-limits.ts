import { clockHour, toSeconds } from './clock-hour.ts';
import type { CheckReservation, GuessPolicy, SendPolicy, SendReservation, VerificationLimits } from './verification-limits.ts';

interface Counter {
  count: number;
  expiresAt: number;
}

/** Verification limits of the embedded default (one process), same semantics as the Redis ones. */
export class MemoryVerificationLimits implements VerificationLimits {
  /** When each number may be sent its next code. */
  private readonly nextSendAt = new Map<string, number>();
  private readonly sentInHour = new Map<number, number>();
  private readonly checks = new Map<string, Counter>();
  private writes = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async reserveSend(phone: string, policy: SendPolicy): Promise<SendReservation> {
    const now = this.now();
    const nextAllowed = this.nextSendAt.get(phone) ?? 0;
    if (nextAllowed > now) {
      return { allowed: false, limit: 'min-interval', retryAfterSeconds: toSeconds(nextAllowed - now) };
    }
    const { hour, msLeft } = clockHour(now);
    const used = this.sentInHour.get(hour) ?? 0;
    if (used >= policy.hourlyBudget) return { allowed: false, limit: 'hourly-budget', retryAfterSeconds: toSeconds(msLeft) };
    for (const past of this.sentInHour.keys()) if (past < hour) this.sentInHour.delete(past);
    this.sentInHour.set(hour, used + 1);
    if (policy.minIntervalSeconds > 0) this.nextSendAt.set(phone, now + policy.minIntervalSeconds * 1000);
    this.sweep(now);
    return { allowed: true, hour };
  }

  async releaseSend(phone: string, hour: number): Promise<void> {
    this.nextSendAt.delete(phone);
    const used = this.sentInHour.get(hour);
    if (used !== undefined && used > 0) this.sentInHour.set(hour, used - 1);
  }

  async reserveCheck(phone: string, policy: GuessPolicy): Promise<CheckReservation> {
    const now = this.now();
    const counter = this.liveCounter(phone, now) ?? { count: 0, expiresAt: now + policy.windowSeconds * 1000 };
    if (counter.count >= policy.maxWrongCodes) return { allowed: false, retryAfterSeconds: toSeconds(counter.expiresAt - now) };
    this.checks.set(phone, { ...counter, count: counter.count + 1 });
    this.sweep(now);
    return { allowed: true };
  }

  async releaseCheck(phone: string): Promise<void> {
    const counter = this.liveCounter(phone, this.now());
    if (counter && counter.count > 0) this.checks.set(phone, { ...counter, count: counter.count - 1 });
  }

  async resetChecks(phone: string): Promise<void> {
    this.checks.delete(phone);
  }

  private liveCounter(phone: string, now: number): Counter | undefined {
    const counter = this.checks.get(phone);
    if (counter && counter.expiresAt <= now) {
      this.checks.delete(phone);
      return undefined;
    }
    return counter;
  }

  // Keeps memory bounded under a flood of distinct numbers.
  private sweep(now: number): void {
    this.writes += 1;
    if (this.writes % 1024 !== 0) return;
    for (const [phone, at] of this.nextSendAt) if (at <= now) this.nextSendAt.delete(phone);
    for (const [phone, counter] of this.checks) if (counter.expiresAt <= now) this.checks.delete(phone);
  }
}
