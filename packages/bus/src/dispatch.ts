import { AppError, type ErrorBody } from '@repo/contracts';
import type { EndpointHandler, HandlerContext } from './bus.ts';
import { assertMatches } from './validation.ts';

export type DispatchResult = { ok: true; data: unknown } | { ok: false; error: ErrorBody };

/**
 * Runs one handler the same way on every transport: validate the request, call, validate the
 * reply, and turn any failure into an error body. Unexpected errors are logged here with their
 * details and travel on only as a generic INTERNAL.
 */
export async function dispatch(handler: EndpointHandler, payload: unknown, ctx: HandlerContext): Promise<DispatchResult> {
  try {
    assertMatches(handler.endpoint.request, payload, `request to ${handler.endpoint.subject}`);
    const data = await handler.handle(payload, ctx);
    assertMatches(handler.endpoint.response, data, `reply from ${handler.endpoint.subject}`, 'INTERNAL');
    return { ok: true, data };
  } catch (err) {
    if (err instanceof AppError && err.code !== 'INTERNAL') return { ok: false, error: err.toBody() };
    ctx.log.error({ err, subject: handler.endpoint.subject }, 'handler failed');
    return { ok: false, error: new AppError('INTERNAL').toBody() };
  }
}
