// Time helpers of the verification limit stores (not exported from the package).

const HOUR_MS = 3_600_000;

/** The clock hour `now` falls in, and the milliseconds left in it. */
export function clockHour(now: number): { hour: number; msLeft: number } {
  const hour = Math.floor(now / HOUR_MS);
  return { hour, msLeft: (hour + 1) * HOUR_MS - now };
}

export const toSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
