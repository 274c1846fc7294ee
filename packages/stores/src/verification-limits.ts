// Limits that keep SMS pumping and code guessing expensive. auth-service enforces them, so they
// hold across gateway replicas and for any caller on the bus.

export interface SendPolicy {
  /** Seconds between two codes to one number; 0 for no minimum. */
  minIntervalSeconds: number;
  /** Codes sent per clock hour, all numbers together. */
  hourlyBudget: number;
}

export type SendReservation =
  | { allowed: true; /** The clock hour the send was counted in, to give it back. */ hour: number }
  | { allowed: false; limit: 'min-interval' | 'hourly-budget'; retryAfterSeconds: number };

export interface GuessPolicy {
  /** Wrong codes accepted per number within one window, whichever codes they were for. */
  maxWrongCodes: number;
  /** The window, counted from the first wrong code; the number is locked until it ends. */
  windowSeconds: number;
}

export type CheckReservation = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface VerificationLimits {
  /** Counts a code to `phone` if the interval since its last code and the hourly budget allow it (atomically). */
  reserveSend(phone: string, policy: SendPolicy): Promise<SendReservation>;
  /** Gives back a counted send that never reached the provider. */
  releaseSend(phone: string, hour: number): Promise<void>;
  /**
   * Counts a code check against the number's guessing budget before the check runs (atomically, so
   * concurrent guesses cannot overrun it). A new code does not reset it.
   */
  reserveCheck(phone: string, policy: GuessPolicy): Promise<CheckReservation>;
  /** Gives back a counted check that was not a wrong guess (nothing pending, provider down). */
  releaseCheck(phone: string): Promise<void>;
  /** Forgets the number's wrong guesses once it logged in. */
  resetChecks(phone: string): Promise<void>;
}
