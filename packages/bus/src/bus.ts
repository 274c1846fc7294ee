import type { Endpoint, EndpointRequest, EndpointResponse } from '@repo/contracts';

/** The slice of a pino logger the bus needs (Fastify's `app.log` fits). */
export interface BusLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): BusLogger;
}

export interface RequestOptions {
  /** Carried in the `x-request-id` header so every hop logs the same id. */
  requestId?: string;
  timeoutMs?: number;
}

export interface HandlerContext {
  requestId: string | undefined;
  log: BusLogger;
}

export interface EndpointHandler {
  endpoint: Endpoint;
  handle(payload: unknown, ctx: HandlerContext): Promise<unknown>;
}

/** A running service on the bus; `stop()` stops taking requests (in-flight ones finish). */
export interface ServiceHandle {
  stop(): Promise<void>;
}

/**
 * Request/reply between services. Two transports implement it: NATS (distributed, queue groups so
 * N replicas share the load) and in-process (the embedded default). Both validate payloads against
 * the endpoint's schemas and carry errors as AppErrors.
 */
export interface Bus {
  request<E extends Endpoint>(endpoint: E, payload: EndpointRequest<E>, options?: RequestOptions): Promise<EndpointResponse<E>>;
  serve(service: { name: string; version: string; log: BusLogger }, handlers: EndpointHandler[]): Promise<ServiceHandle>;
  /** Resolves when the transport is usable (readiness probes). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const REQUEST_ID_HEADER = 'x-request-id';
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Binds a typed handler to an endpoint. */
export function handle<E extends Endpoint>(
  endpoint: E,
  fn: (payload: EndpointRequest<E>, ctx: HandlerContext) => Promise<EndpointResponse<E>>,
): EndpointHandler {
  return { endpoint, handle: (payload, ctx) => fn(payload as EndpointRequest<E>, ctx) };
}
