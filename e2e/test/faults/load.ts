// A steady load on the gateway, recording every request's outcome and latency. Each worker logs in
// (send a code, read it, verify it: gateway -> auth-service -> token-service) and then uses the
// session like a client: a protected read, a refresh (retried with the same refresh token when it
// gets no answer or a 5xx, as a client would), a protected read with the new access token, and for
// every third session a logout (retried the same way). Logged-out sessions are kept, so a scenario
// can check afterwards that none of them gets in again.
export type Kind = 'send' | 'verify' | 'protected' | 'refresh' | 'logout' | 'check';
/** Safe to send twice: the gateway retries these on a short first attempt, so they must stay fast. */
export const IDEMPOTENT: readonly Kind[] = ['protected', 'refresh'];

export interface Outcome {
  at: number;
  ms: number;
  /** HTTP status, or 0 when no answer came at all (connection error, client timeout). */
  status: number;
  code?: string;
  kind?: Kind;
}

export interface Pair {
  access_token: string;
  refresh_token: string;
}

let counter = Math.floor(Math.random() * 5_000);
export function nextPhone(): string {
  counter = (counter + 1) % 10_000;
  return `+1415555${String(counter).padStart(4, '0')}`;
}

interface CallOptions {
  token?: string | undefined;
  method?: 'GET' | 'POST' | 'DELETE';
  kind?: Kind;
  /** How long the client waits for an answer (default 30 s). */
  clientTimeoutMs?: number;
}

/** One request, recorded: POST with a JSON body, or GET (or `method`) with a bearer token. */
export async function timedCall(url: string, body: unknown, outcomes: Outcome[], token?: string, options: CallOptions = {}): Promise<Outcome & { json?: unknown }> {
  const at = Date.now();
  const method = options.method ?? (body === undefined ? 'GET' : 'POST');
  const bearer = options.token ?? token;
  let outcome: Outcome;
  let json: unknown;
  try {
    const res = await fetch(url, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(options.clientTimeoutMs ?? 30_000),
    });
    json = await res.json().catch(() => ({}));
    const code = (json as { code?: unknown }).code;
    outcome = { at, ms: Date.now() - at, status: res.status, ...(typeof code === 'string' ? { code } : {}), ...(options.kind ? { kind: options.kind } : {}) };
  } catch {
    outcome = { at, ms: Date.now() - at, status: 0, ...(options.kind ? { kind: options.kind } : {}) };
  }
  outcomes.push(outcome);
  return { ...outcome, json };
}

/** The code the Twilio emulator last "sent" to `phone`. */
export async function lastCode(twilioUrl: string, phone: string): Promise<string | undefined> {
  const res = await fetch(`${twilioUrl}/outbox?to=${encodeURIComponent(phone)}`);
  const { messages } = (await res.json()) as { messages: Array<{ code: string }> };
  return messages.at(-1)?.code;
}

/** Logs one new phone number in; its token pair, or undefined when the system could not. */
export async function loginPair(gatewayUrl: string, twilioUrl: string, outcomes: Outcome[] = []): Promise<Pair | undefined> {
  const phone = nextPhone();
  const sent = await timedCall(`${gatewayUrl}/api/auth/send-verification`, { phone_number: phone }, outcomes, undefined, { kind: 'send' });
  if (sent.status !== 200) return undefined;
  const code = await lastCode(twilioUrl, phone);
  if (!code) return undefined;
  const verify = await timedCall(`${gatewayUrl}/api/auth/verify-code`, { phone_number: phone, code }, outcomes, undefined, { kind: 'verify' });
  if (verify.status !== 200) return undefined;
  return (verify.json as { tokens: Pair }).tokens;
}

/** Logs one new phone number in; the access token, or undefined when the system could not. */
export async function loginOnce(gatewayUrl: string, twilioUrl: string, outcomes: Outcome[] = []): Promise<string | undefined> {
  return (await loginPair(gatewayUrl, twilioUrl, outcomes))?.access_token;
}

/** POST /api/auth/refresh with `refreshToken` once; the new pair on a 200. */
export async function refreshOnce(gatewayUrl: string, refreshToken: string, outcomes: Outcome[], clientTimeoutMs?: number): Promise<Outcome & { pair?: Pair }> {
  const o = await timedCall(`${gatewayUrl}/api/auth/refresh`, undefined, outcomes, refreshToken, { method: 'POST', kind: 'refresh', ...(clientTimeoutMs ? { clientTimeoutMs } : {}) });
  if (o.status !== 200) return o;
  const { access_token, refresh_token } = o.json as Pair;
  return { ...o, pair: { access_token, refresh_token } };
}

/** What a client must never be told about its own live session after a retry. */
export const SESSION_KILLED = ['REFRESH_TOKEN_REUSED', 'TOKEN_REVOKED'];

/** A 5xx or no answer: the client does not know what happened and may send the same request again. */
const unanswered = (o: Outcome) => o.status === 0 || o.status >= 500;
const RETRIES = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LoginLoad {
  readonly outcomes: Outcome[] = [];
  /** Sessions whose logout was answered 200 (or 401 TOKEN_REVOKED on a retry): they must stay out. */
  readonly loggedOut: Pair[] = [];
  /** Refreshes of a live session answered REFRESH_TOKEN_REUSED or TOKEN_REVOKED: the user was logged out. */
  readonly sessionsKilled: Outcome[] = [];
  private running = false;
  private workers: Array<Promise<void>> = [];
  private sessions = 0;

  constructor(
    private readonly gatewayUrl: string,
    private readonly twilioUrl: string,
    /** false: only logins (send and verify), as the drain scenario wants a steady simple load. */
    private readonly useSessions = true,
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
      const pair = await loginPair(this.gatewayUrl, this.twilioUrl, this.outcomes);
      if (!pair || !this.useSessions || !this.running) continue;
      await this.useSession(pair);
    }
  }

  private async useSession(pair: Pair): Promise<void> {
    const api = `${this.gatewayUrl}/api/auth`;
    await timedCall(`${api}/protected`, undefined, this.outcomes, pair.access_token, { kind: 'protected' });
    let next: Pair | undefined;
    for (let attempt = 0; attempt < RETRIES && !next; attempt++) {
      const o = await refreshOnce(this.gatewayUrl, pair.refresh_token, this.outcomes);
      if (o.pair) next = o.pair;
      else if (o.code && SESSION_KILLED.includes(o.code)) {
        this.sessionsKilled.push(o);
        return;
      } else if (!unanswered(o)) return;
      else await sleep(200);
    }
    if (!next) return;
    await timedCall(`${api}/protected`, undefined, this.outcomes, next.access_token, { kind: 'protected' });
    if (++this.sessions % 3 !== 0) return;
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const o = await timedCall(`${api}/logout`, undefined, this.outcomes, next.access_token, { method: 'DELETE', kind: 'logout' });
      // A retry after a logout that went through but whose answer was lost meets a revoked session.
      if (o.status === 200 || (attempt > 0 && o.code === 'TOKEN_REVOKED')) {
        this.loggedOut.push(next);
        return;
      }
      if (!unanswered(o)) return;
      await sleep(200);
    }
  }
}

/**
 * After a fault: every logged-out session's access token must be refused on the protected route
 * and its refresh token on /refresh (401), never accepted. Returns the checks' outcomes and the
 * ones that got in.
 */
export async function checkRevocations(gatewayUrl: string, loggedOut: Pair[]): Promise<{ outcomes: Outcome[]; accepted: Outcome[] }> {
  const outcomes: Outcome[] = [];
  for (const pair of loggedOut) {
    await timedCall(`${gatewayUrl}/api/auth/protected`, undefined, outcomes, pair.access_token, { kind: 'check' });
    await timedCall(`${gatewayUrl}/api/auth/refresh`, undefined, outcomes, pair.refresh_token, { method: 'POST', kind: 'check' });
  }
  return { outcomes, accepted: outcomes.filter((o) => o.status !== 401) };
}

/** "status code ×count" for each kind of answer, most frequent first. */
export function distribution(outcomes: Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    const key = `${o.status}${o.code ? ` ${o.code}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
}

export function summarise(outcomes: Outcome[]) {
  const sorted = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
  const failed = outcomes.filter((o) => o.status !== 200);
  const idempotent = outcomes.filter((o) => o.kind !== undefined && IDEMPOTENT.includes(o.kind));
  return {
    requests: outcomes.length,
    failed: failed.length,
    lost: outcomes.filter((o) => o.status === 0).length,
    p50: pct(50),
    p99: pct(99),
    max: sorted.at(-1) ?? 0,
    maxFailedMs: Math.max(0, ...failed.map((o) => o.ms)),
    /** Slowest protected read or refresh; '' when there was none. */
    idempotentMax: idempotent.length ? Math.max(...idempotent.map((o) => o.ms)) : ('' as const),
    codes: distribution(failed),
  };
}
