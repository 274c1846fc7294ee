import { AppError, type Endpoint, type EndpointRequest, type EndpointResponse } from '@repo/contracts';
import type { BusMetrics } from '@repo/telemetry';
import {
  DEFAULT_ATTEMPT_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  type Bus,
  type BusLogger,
  type EndpointHandler,
  type RequestOptions,
  type ServiceDefinition,
  type ServiceHandle,
} from './bus.ts';
import { unavailable, withinBudget, type Attempt } from './budget.ts';
import { serveRequest, timedRequest } from './dispatch.ts';
import { InFlight } from './in-flight.ts';
import { assertMatches } from './validation.ts';

interface Registration {
  handler: EndpointHandler;
  log: BusLogger;
  inFlight: InFlight;
}

export interface InProcessBusOptions {
  requestTimeoutMs?: number;
  attemptTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Request and handler durations (see @repo/telemetry busMetrics). */
  metrics?: BusMetrics;
}

/**
 * The bus inside one process (the embedded default). It keeps NATS's semantics where they matter:
 * payloads cross as JSON (no shared object references), several registrations of a subject are
 * served round-robin like a queue group, nobody registered means "no responders" (503), deadlines
 * and budgets work the same way.
 */
export class InProcessBus implements Bus {
  private readonly subjects = new Map<string, { registrations: Registration[]; next: number }>();
  private closed = false;
  private shuttingDown = false;
  private readonly defaults: { timeoutMs: number; attemptTimeoutMs: number };
  private readonly stopTimeoutMs: number;
  private readonly metrics: BusMetrics | undefined;

  constructor(options: InProcessBusOptions | number = {}) {
    const o = typeof options === 'number' ? { requestTimeoutMs: options } : options;
    this.defaults = { timeoutMs: o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, attemptTimeoutMs: o.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS };
    this.stopTimeoutMs = o.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.metrics = o.metrics;
  }

  async request<E extends Endpoint>(endpoint: E, payload: EndpointRequest<E>, options: RequestOptions = {}): Promise<EndpointResponse<E>> {
    const wire = JSON.parse(JSON.stringify(payload)) as unknown;
    return timedRequest(this.metrics, endpoint.subject, () => withinBudget(endpoint.subject, options, this.defaults, (attempt) => this.attempt(endpoint, wire, attempt)));
  }

  private async attempt<E extends Endpoint>(endpoint: E, wire: unknown, attempt: Attempt): Promise<EndpointResponse<E>> {
    const registration = this.closed ? undefined : this.pick(endpoint.subject);
    if (!registration) throw unavailable(endpoint.subject, 'no instance is running');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(endpoint.subject, 'it did not answer in time', { retryable: true })), attempt.timeoutMs);
    });
    try {
      const running = registration.inFlight.track(
        serveRequest(registration.handler, { payload: wire, requestId: attempt.requestId, deadline: attempt.deadline, traceparent: attempt.traceparent }, registration.log, this.metrics),
      );
      const result = await Promise.race([running, timeout]);
      if (!result.ok) throw AppError.fromBody(result.error);
      const data = JSON.parse(JSON.stringify(result.data)) as unknown;
      assertMatches(endpoint.response, data, `reply from ${endpoint.subject}`, 'INTERNAL');
      return data as EndpointResponse<E>;
    } finally {
      clearTimeout(timer);
    }
  }

  async serve(service: ServiceDefinition, handlers: EndpointHandler[]): Promise<ServiceHandle> {
    const inFlight = new InFlight();
    const added: Array<[string, Registration]> = handlers.map((handler) => [handler.endpoint.subject, { handler, log: service.log, inFlight }]);
    for (const [subject, registration] of added) {
      const entry = this.subjects.get(subject) ?? { registrations: [], next: 0 };
      entry.registrations.push(registration);
      this.subjects.set(subject, entry);
    }
    return {
      stop: async () => {
        for (const [subject, registration] of added) {
          const entry = this.subjects.get(subject);
          if (entry) entry.registrations = entry.registrations.filter((r) => r !== registration);
        }
        if (!(await inFlight.settled(this.stopTimeoutMs))) {
          service.log.warn({ running: inFlight.size }, `stopped ${service.name} with handlers still running`);
        }
      },
    };
  }

  async ping(): Promise<void> {
    if (this.closed) throw new AppError('SERVICE_UNAVAILABLE', 'The in-process bus is closed');
    if (this.shuttingDown) throw new AppError('SERVICE_UNAVAILABLE', 'Shutting down');
  }

  announceShutdown(): void {
    this.shuttingDown = true;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private pick(subject: string): Registration | undefined {
    const entry = this.subjects.get(subject);
    if (!entry || entry.registrations.length === 0) return undefined;
    const registration = entry.registrations[entry.next % entry.registrations.length];
    entry.next = (entry.next + 1) % entry.registrations.length;
    return registration;
  }
}
