// Counts what a hostile suite sent and got back, and every check that failed, for its summary.

export interface Answer {
  /** 0 when the server closed the connection without answering. */
  status: number;
  body: unknown;
  text: string;
  /** The Retry-After header, where the client read headers. */
  retryAfter?: string | null;
}

export interface Expectation {
  /** The statuses that pass; omitted, any 2xx, 3xx or shaped 4xx passes (never a 5xx). */
  status?: number | readonly number[];
  /** The error codes that pass, for an error answer. */
  codes?: readonly string[];
  /** The server may close the connection without an answer (truncated or broken bytes). */
  mayNotAnswer?: boolean;
  /** Also passes a non-error body of this exact shape (verify-code's contractual wrong-code 401). */
  alsoBody?: unknown;
  /** A 429 must carry `Retry-After` (whole seconds, at least 1), the same as its body's `retry_after`. */
  retryAfter?: boolean;
}

const ERROR_FIELDS = ['statusCode', 'error', 'code', 'message'] as const;

/** `{statusCode, error, code, message}` with the right types, statusCode equal to the HTTP status. */
export function isShapedError(answer: Answer): boolean {
  const body = answer.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const record = body as Record<string, unknown>;
  return (
    ERROR_FIELDS.every((field) => field in record) &&
    record.statusCode === answer.status &&
    typeof record.error === 'string' &&
    typeof record.code === 'string' &&
    /^[A-Z][A-Z0-9_]*$/.test(record.code) &&
    typeof record.message === 'string'
  );
}

function codeOf(answer: Answer): string | undefined {
  const body = answer.body;
  if (typeof body !== 'object' || body === null) return undefined;
  const code = (body as Record<string, unknown>).code;
  return typeof code === 'string' ? code : undefined;
}

export class Tally {
  requests = 0;
  clientErrors = 0;
  serverErrors = 0;
  noAnswer = 0;
  readonly failures: string[] = [];
  /** Every answer's label and status, for checks over a group. */
  readonly answers: Array<{ label: string; status: number }> = [];

  /** Records one answer and checks it; returns whether it passed. */
  record(label: string, answer: Answer, expect: Expectation = {}): boolean {
    this.requests += 1;
    this.answers.push({ label, status: answer.status });
    if (answer.status >= 400 && answer.status < 500) this.clientErrors += 1;
    if (answer.status >= 500) this.serverErrors += 1;
    if (answer.status === 0) this.noAnswer += 1;
    const problem = this.problemWith(answer, expect);
    if (problem) this.failures.push(`${label}: ${problem} (got ${answer.status} ${answer.text.slice(0, 200)})`);
    return problem === undefined;
  }

  private problemWith(answer: Answer, expect: Expectation): string | undefined {
    if (answer.status === 0) return expect.mayNotAnswer ? undefined : 'no answer';
    if (answer.status >= 500) return 'a 5xx';
    const matchesAlso = expect.alsoBody !== undefined && JSON.stringify(answer.body) === JSON.stringify(expect.alsoBody);
    if (answer.status >= 400 && !matchesAlso && !isShapedError(answer)) return 'an error body without statusCode, error, code and message';
    if (expect.status !== undefined) {
      const allowed = typeof expect.status === 'number' ? [expect.status] : expect.status;
      if (!allowed.includes(answer.status)) return `status not in ${allowed.join('|')}`;
    }
    if (expect.codes && !matchesAlso) {
      const code = codeOf(answer);
      if (code === undefined || !expect.codes.includes(code)) return `code not in ${expect.codes.join('|')}`;
    }
    if (expect.retryAfter && answer.status === 429) {
      const header = answer.retryAfter;
      if (header === undefined) return 'Retry-After was not read (send it through a client that reads headers)';
      if (header === null || !/^[1-9]\d*$/.test(header)) return `429 without a Retry-After of whole seconds (got ${JSON.stringify(header)})`;
      const inBody = (answer.body as Record<string, unknown> | undefined)?.retry_after;
      if (inBody !== Number(header)) return `Retry-After ${header} but retry_after ${JSON.stringify(inBody)} in the body`;
    }
    return undefined;
  }

  summary(name: string): string {
    return `${name}: requests=${this.requests} 4xx=${this.clientErrors} 5xx=${this.serverErrors} no-answer=${this.noAnswer} failed-checks=${this.failures.length}`;
  }
}
