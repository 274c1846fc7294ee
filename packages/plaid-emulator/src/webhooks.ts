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
  url: string;
  status: number | null;
  error?: string;
}

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

  /** POSTs one webhook and reports what the receiver answered (Plaid itself retries non-2xx later). */
  async send(url: string, payload: object, now: number): Promise<WebhookDelivery> {
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
      return { url, status: res.status };
    } catch (err) {
      return { url, status: null, error: (err as Error).message };
    }
  }
}
