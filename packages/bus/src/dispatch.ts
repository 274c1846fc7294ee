import { AppError, type ErrorBody } from '@repo/contracts';
import type { EndpointHandler, HandlerContext } from './bus.ts';
import { runInHandlerContext } from './budget.ts';
import { assertMatches } from './validation.ts';

export type DispatchResult = { ok: true; data: unknown } | { ok: false; error: ErrorBody };

/**
 * Runs one handler the same way on every transport: skip it when its caller has given up already,
 * validate the request, call it inside its deadline context, validate the reply, and turn any
 * failure into an error body. Every 5xx is logged here with its cause; unexpected errors travel on
 * only as a generic INTERNAL.
 */
export async function dispatch(handler: EndpointHandler, payload: unknown, ctx: HandlerContext): Promise<DispatchResult> {
  const subject = handler.endpoint.subject;
  try {
    if (Date.now() >= ctx.deadline) {
      throw new AppError('SERVICE_UNAVAILABLE', `The request to ${subject} arrived after its deadline`, { retryAfter: 1 });
    }
    assertMatches(handler.endpoint.request, payload, `request to ${subject}`);
    const data = await runInHandlerContext({ requestId: ctx.requestId, deadline: ctx.deadline }, () => handler.handle(payload, ctx));
    assertMatches(handler.endpoint.response, data, `reply from ${subject}`, 'INTERNAL');
    return { ok: true, data };
  } catch (err) {
    if (err instanceof AppError && err.code !== 'INTERNAL') {
      if (err.statusCode >= 500) {
        const level = err.statusCode === 503 ? 'warn' : 'error';
        ctx.log[level]({ err, subject, code: err.code }, `handler answered ${err.statusCode} ${err.code}`);
      }
      return { ok: false, error: err.toBody() };
    }
    ctx.log.error({ err, subject }, 'handler failed');
    return { ok: false, error: new AppError('INTERNAL').toBody() };
  }
}
