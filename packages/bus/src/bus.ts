import type { Endpoint, EndpointRequest, EndpointResponse } from '@repo/contracts';

/** The slice of a pino logger the bus needs (Fastify's `app.log` fits). */
export interface BusLogger {
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): BusLogger;
}

export interface RequestOptions {
  /** Carried in the `x-request-id` header so every hop logs the same id; inside a handler, the handler's. */
  requestId?: string;
  /** W3C `traceparent` of the caller's span, carried in the `traceparent` header; inside a handler, the handler's span. */
  traceparent?: string;
  /** The total budget of this request, retries included. Inside a handler it never exceeds the time the handler has left. */
  timeoutMs?: number;
  /**
   * Safe to send twice (a read; a refresh, within its reuse interval: see `retryWithinMs`). The
   * first attempt then gets a short timeout (`attemptTimeoutMs`) and, if it times out, one more
   * attempt gets what is left of the budget: a replica that died with the request costs one short
   * attempt, not the whole budget.
   */
  idempotent?: boolean;
  /** Timeout of the first attempt of an idempotent request; defaults to the bus's. */
  attemptTimeoutMs?: number;
  /**
   * For a request that is idempotent only for a while (a refresh: the reuse interval): the retry
   * must be handled within this long of the first attempt being sent. Its budget ends there, and
   * when the first attempt leaves no room before it, the request is sent once with the whole budget.
   */
  retryWithinMs?: number;
}

export interface HandlerContext {
  requestId: string | undefined;
  /** When the caller stops waiting (epoch ms); inner bus requests never wait longer. */
  deadline: number;
  /** Bound with the request id, the subject and the trace id (`trace_id`). */
  log: BusLogger;
}

export interface EndpointHandler {
  endpoint: Endpoint;
  handle(payload: unknown, ctx: HandlerContext): Promise<unknown>;
}

/** A running service on the bus. */
export interface ServiceHandle {
  /** Stops taking requests, then waits (bounded) for the handlers still running to answer. */
  stop(): Promise<void>;
}

export interface ServiceDefinition {
  name: string;
  version: string;
  log: BusLogger;
}

/**
 * Request/reply between services. Two transports implement it: NATS (distributed, queue groups so
 * N replicas share the load) and in-process (the embedded default). Both validate payloads against
 * the endpoint's schemas, carry errors as AppErrors and carry each request's deadline to its handler.
 */
export interface Bus {
  request<E extends Endpoint>(endpoint: E, payload: EndpointRequest<E>, options?: RequestOptions): Promise<EndpointResponse<E>>;
  /** Serves the handlers; on NATS, from the moment the connection is up (it may come later). */
  serve(service: ServiceDefinition, handlers: EndpointHandler[]): Promise<ServiceHandle>;
  /** Resolves when the transport is usable and this process takes requests (readiness probes); answers within about a second. */
  ping(): Promise<void>;
  /** From now on `ping` fails (readiness turns 503) while requests keep working: the start of a graceful shutdown. */
  announceShutdown(): void;
  close(): Promise<void>;
}

export const REQUEST_ID_HEADER = 'x-request-id';
export { TRACEPARENT_HEADER } from '@repo/telemetry';
/** Absolute deadline of a bus request, epoch milliseconds. */
export const DEADLINE_HEADER = 'x-deadline';
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 1_000;
/** How long a stopping service waits for its running handlers before it closes anyway. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** Binds a typed handler to an endpoint. */
export function handle<E extends Endpoint>(
  endpoint: E,
  fn: (payload: EndpointRequest<E>, ctx: HandlerContext) => Promise<EndpointResponse<E>>,
): EndpointHandler {
  return { endpoint, handle: (payload, ctx) => fn(payload as EndpointRequest<E>, ctx) };
}
