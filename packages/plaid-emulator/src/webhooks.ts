import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** Plaid's webhook verification key, as `/webhook_verification_key/get` returns it. */
export interface WebhookVerificationKey extends JWK {
  kid: string;
  created_at: number;
  expired_at: number | null;
}

export interface WebhookDelivery {
  /** The webhook this attempt delivers: the same for its retries (`webhook-1`, `webhook-2`, ...). */
  id: string;
  url: string;
  /** The body as sent (before its two-space JSON encoding). */
  payload: WebhookPayload;
  /** 1 for the first try, then one more per retry. */
  attempt: number;
  status: number | null;
  error?: string;
}

/** What an ITEM or TRANSACTIONS webhook says, before the emulator adds `item_id` and `environment`. */
export type WebhookContent = { webhook_type: string; webhook_code: string } & Record<string, unknown>;
export type WebhookPayload = WebhookContent & { item_id: string };

const DELIVERY_TIMEOUT_MS = 10_000;

/**
 * Signs and sends webhooks as Plaid does: the body is JSON, and the `Plaid-Verification` header
 * an ES256 JWT (header `kid`) whose payload holds `iat` and `request_body_sha256`, the hex
 * SHA-256 of the exact body. https://plaid.com/docs/api/webhooks/webhook-verification/
 */
export class WebhookSender {
  private constructor(
    private readonly privateKey: PrivateKey,
    readonly key: WebhookVerificationKey,
  ) {}

  static async create(now: () => number): Promise<WebhookSender> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    return new WebhookSender(privateKey, { ...jwk, alg: 'ES256', use: 'sig', kid: randomUUID(), created_at: Math.floor(now() / 1000), expired_at: null });
  }

  async sign(body: string, now: number): Promise<string> {
    return new SignJWT({ request_body_sha256: createHash('sha256').update(body, 'utf8').digest('hex') })
      .setProtectedHeader({ alg: 'ES256', kid: this.key.kid, typ: 'JWT' })
      .setIssuedAt(Math.floor(now / 1000))
      .sign(this.privateKey);
  }

  /** POSTs one webhook and reports what the receiver answered. */
  async send(url: string, payload: WebhookPayload, now: number): Promise<Omit<WebhookDelivery, 'id' | 'attempt'>> {
    // Plaid sends its webhook bodies indented by two spaces; the signature covers the exact bytes.
    const body = JSON.stringify(payload, null, 2);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'plaid-verification': await this.sign(body, now) },
        body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      return { url, payload, status: res.status };
    } catch (err) {
      return { url, payload, status: null, error: (err as Error).message };
    }
  }
}

/**
 * Sends webhooks in the background as Plaid does, and again after each of `retryDelaysMs` while
 * the receiver does not answer 2xx (Plaid retries for up to a day; the emulator a few times).
 */
export class WebhookDispatcher {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private sent = 0;

  constructor(
    private readonly sender: WebhookSender,
    private readonly now: () => number,
    private readonly retryDelaysMs: number[],
    private readonly record: (delivery: WebhookDelivery) => void,
  ) {}

  /**
   * Queues a webhook and returns its id at once. The first attempt starts on a later turn of the
   * event loop, so a request that causes a webhook is answered before the webhook goes out, as
   * Plaid answers first and delivers after; each attempt lands in `record` once the receiver answered.
   */
  dispatch(url: string, payload: WebhookPayload): string {
    this.sent += 1;
    const id = `webhook-${this.sent}`;
    this.later(0, () => void this.attempt(id, url, payload, 1));
    return id;
  }

  /** Runs `task` after `ms` unless the emulator closed meanwhile; never keeps the process alive. */
  later(ms: number, task: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) task();
    }, Math.max(0, ms));
    timer.unref();
    this.timers.add(timer);
  }

  /** How many webhooks were queued so far: their ids are `webhook-1` to `webhook-<queued>`. */
  get queued(): number {
    return this.sent;
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async attempt(id: string, url: string, payload: WebhookPayload, attempt: number): Promise<void> {
    const delivery = { id, ...(await this.sender.send(url, payload, this.now())), attempt };
    this.record(delivery);
    const delay = this.retryDelaysMs[attempt - 1];
    const delivered = delivery.status !== null && delivery.status >= 200 && delivery.status < 300;
    if (!delivered && delay !== undefined) this.later(delay, () => void this.attempt(id, url, payload, attempt + 1));
  }
}
