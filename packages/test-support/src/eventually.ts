/** How long a test waits for something done in the background (an emulator's webhooks): generous, for a busy machine. */
export const WAIT_MS = 30_000;

/** Polls `probe` until it returns something other than undefined; fails after `timeoutMs` naming `what`. */
export async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until every webhook the emulator queued so far had its first attempt answered (or failed). */
export async function webhooksDelivered(emulator: { deliveries: Array<{ id: string }>; webhooksQueued(): number }): Promise<void> {
  const queued = emulator.webhooksQueued();
  await eventually(`the ${queued} webhooks queued so far`, () => (new Set(emulator.deliveries.map((d) => d.id)).size >= queued ? true : undefined));
}
