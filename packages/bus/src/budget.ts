// Time budgets of bus requests: the deadline that travels with a request, the context a handler
// runs in (so its own bus requests inherit what is left), and the retry of idempotent requests.
import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError } from '@repo/contracts';
import type { RequestOptions } from './bus.ts';

interface CallContext {
  requestId: string | undefined;
  deadline: number;
  /** The handler's span, parent of the requests it makes. */
  traceparent: string | undefined;
}

const handlerContext = new AsyncLocalStorage<CallContext>();

/** Kept back from an inner request, so the handler can still answer before its own caller gives up. */
export const DEADLINE_MARGIN_MS = 100;
/** Below this, a second attempt could not get an answer anyway. */
const MIN_RETRY_MS = 50;

/**
 * When the handler this code runs in must be done (epoch ms: its caller's deadline minus the
 * margin its answer needs), or undefined outside a handler. For the calls a handler makes other
 * than bus requests (an HTTP API), so that they too end while someone still waits for the answer.
 */
export function handlerDeadline(): number | undefined {
  const ctx = handlerContext.getStore();
  return ctx ? ctx.deadline - DEADLINE_MARGIN_MS : undefined;
}

/** Runs a handler so that the bus requests it makes inherit its request id, deadline and trace. */
export function runInHandlerContext<T>(ctx: CallContext, fn: () => T): T {
  return handlerContext.run(ctx, fn);
}

const retryable = new WeakSet<AppError>();

/**
 * The 503 of a request that got no answer. `retryable` marks a request that may still have been
 * routed to a live replica (a timeout), so an idempotent one is worth a second attempt.
 */
export function unavailable(subject: string, why: string, options: { retryable?: boolean; cause?: unknown } = {}): AppError {
  const err = new AppError('SERVICE_UNAVAILABLE', `The service behind ${subject.split('.')[0]} is unavailable: ${why}`, {
    retryAfter: 1,
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
  if (options.retryable) retryable.add(err);
  return err;
}

export interface Attempt {
  timeoutMs: number;
  /** Absolute, epoch ms: sent along so the handler knows when nobody waits any more. */
  deadline: number;
  requestId: string | undefined;
  traceparent: string | undefined;
}

export interface BudgetDefaults {
  timeoutMs: number;
  attemptTimeoutMs: number;
}

/**
 * Runs `attempt` within the request's budget: the caller's timeout, capped by the deadline of the
 * handler we run in (minus a margin). An idempotent request that times out on a short first attempt
 * gets one more with what is left, or, with `retryWithinMs`, with what is left of that window; when
 * the first attempt would fill the window there is no retry, one attempt gets the whole budget.
 */
export async function withinBudget<T>(
  subject: string,
  options: RequestOptions,
  defaults: BudgetDefaults,
  attempt: (a: Attempt) => Promise<T>,
  onRetry: (err: AppError) => void = () => undefined,
): Promise<T> {
  const outer = handlerContext.getStore();
  const requestId = options.requestId ?? outer?.requestId;
  const traceparent = options.traceparent ?? outer?.traceparent;
  let deadline = Date.now() + (options.timeoutMs ?? defaults.timeoutMs);
  if (outer) deadline = Math.min(deadline, outer.deadline - DEADLINE_MARGIN_MS);
  const left = () => deadline - Date.now();
  const once = (timeoutMs: number) => attempt({ timeoutMs, deadline: Date.now() + timeoutMs, requestId, traceparent });

  if (left() <= 0) throw unavailable(subject, "no time is left before the caller's deadline");
  const retryDeadline = options.retryWithinMs === undefined ? deadline : Math.min(deadline, Date.now() + options.retryWithinMs);
  const retryLeft = () => retryDeadline - Date.now();
  const first = Math.min(options.attemptTimeoutMs ?? defaults.attemptTimeoutMs, left());
  if (options.idempotent && first < retryLeft() - MIN_RETRY_MS) {
    try {
      return await once(first);
    } catch (err) {
      if (!(err instanceof AppError && retryable.has(err)) || retryLeft() < MIN_RETRY_MS) throw err;
      onRetry(err);
    }
    // Its deadline travels with it: a handler that gets it later than that does not run it.
    return once(retryLeft());
  }
  return once(left());
}
