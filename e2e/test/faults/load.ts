// A steady login load on the gateway (send a code, read it, verify it: gateway -> auth-service ->
// token-service), recording every request's outcome and latency.
export interface Outcome {
  at: number;
  ms: number;
  /** HTTP status, or 0 when no answer came at all (connection error, client timeout). */
  status: number;
  code?: string;
}

let counter = Math.floor(Math.random() * 5_000);
function nextPhone(): string {
  counter = (counter + 1) % 10_000;
  return `+1415555${String(counter).padStart(4, '0')}`;
}

/** One request, recorded: POST with a JSON body, or GET with a bearer token. */
export async function timedCall(url: string, body: unknown, outcomes: Outcome[], token?: string): Promise<Outcome> {
  const at = Date.now();
  let outcome: Outcome;
  try {
    const res = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const json = (await res.json().catch(() => ({}))) as { code?: string };
    outcome = { at, ms: Date.now() - at, status: res.status, ...(json.code ? { code: json.code } : {}) };
  } catch {
    outcome = { at, ms: Date.now() - at, status: 0 };
  }
  outcomes.push(outcome);
  return outcome;
}

/** Logs one new phone number in; the access token, or undefined when the system could not. */
export async function loginOnce(gatewayUrl: string, twilioUrl: string, outcomes: Outcome[] = []): Promise<string | undefined> {
  const phone = nextPhone();
  const sent = await timedCall(`${gatewayUrl}/api/auth/send-verification`, { phone_number: phone }, outcomes);
  if (sent.status !== 200) return undefined;
  const res = await fetch(`${twilioUrl}/outbox?to=${encodeURIComponent(phone)}`);
  const { messages } = (await res.json()) as { messages: Array<{ code: string }> };
  const code = messages.at(-1)?.code;
  if (!code) return undefined;
  const verify = await fetch(`${gatewayUrl}/api/auth/verify-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ phone_number: phone, code }),
  });
  if (!verify.ok) return undefined;
  return ((await verify.json()) as { tokens: { access_token: string } }).tokens.access_token;
}

export class LoginLoad {
  readonly outcomes: Outcome[] = [];
  private running = false;
  private workers: Array<Promise<void>> = [];

  constructor(
    private readonly gatewayUrl: string,
    private readonly twilioUrl: string,
  ) {}

  start(concurrency: number): void {
    this.running = true;
    this.workers = Array.from({ length: concurrency }, () => this.work());
  }

  async stop(): Promise<Outcome[]> {
    this.running = false;
    await Promise.all(this.workers);
    return this.outcomes;
  }

  private async work(): Promise<void> {
    while (this.running) {
      const phone = nextPhone();
      const sent = await timedCall(`${this.gatewayUrl}/api/auth/send-verification`, { phone_number: phone }, this.outcomes);
      if (sent.status !== 200) continue;
      const res = await fetch(`${this.twilioUrl}/outbox?to=${encodeURIComponent(phone)}`);
      const { messages } = (await res.json()) as { messages: Array<{ code: string }> };
      const code = messages.at(-1)?.code;
      if (!code) continue;
      await timedCall(`${this.gatewayUrl}/api/auth/verify-code`, { phone_number: phone, code }, this.outcomes);
    }
  }
}

export function summarise(outcomes: Outcome[]) {
  const sorted = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
  const failed = outcomes.filter((o) => o.status !== 200);
  return {
    requests: outcomes.length,
    failed: failed.length,
    lost: outcomes.filter((o) => o.status === 0).length,
    p50: pct(50),
    p99: pct(99),
    max: sorted.at(-1) ?? 0,
    maxFailedMs: Math.max(0, ...failed.map((o) => o.ms)),
    codes: [...new Set(failed.map((o) => `${o.status}${o.code ? ` ${o.code}` : ''}`))].join(', '),
  };
}
