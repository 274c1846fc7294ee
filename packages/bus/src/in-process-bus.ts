import { AppError, type Endpoint, type EndpointRequest, type EndpointResponse } from '@repo/contracts';
import { DEFAULT_REQUEST_TIMEOUT_MS, type Bus, type BusLogger, type EndpointHandler, type RequestOptions, type ServiceHandle } from './bus.ts';
import { dispatch } from './dispatch.ts';
import { assertMatches } from './validation.ts';

interface Registration {
  handler: EndpointHandler;
  log: BusLogger;
}

/**
 * The bus inside one process (the embedded default). It keeps NATS's semantics where they matter:
 * payloads cross as JSON (no shared object references), several registrations of a subject are
 * served round-robin like a queue group, nobody registered means "no responders" (503).
 */
export class InProcessBus implements Bus {
  private readonly subjects = new Map<string, { registrations: Registration[]; next: number }>();
  private closed = false;

  constructor(private readonly requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {}

  async request<E extends Endpoint>(endpoint: E, payload: EndpointRequest<E>, options: RequestOptions = {}): Promise<EndpointResponse<E>> {
    const registration = this.closed ? undefined : this.pick(endpoint.subject);
    if (!registration) {
      throw new AppError('SERVICE_UNAVAILABLE', `The service behind ${endpoint.subject.split('.')[0]} is unavailable: no instance is running`, {
        retryAfter: 1,
      });
    }
    const log = registration.log.child({ reqId: options.requestId, subject: endpoint.subject });
    const wire = JSON.parse(JSON.stringify(payload)) as unknown;
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AppError('SERVICE_UNAVAILABLE', `The service behind ${endpoint.subject.split('.')[0]} did not answer in time`)),
        timeoutMs,
      );
    });
    try {
      const result = await Promise.race([dispatch(registration.handler, wire, { requestId: options.requestId, log }), timeout]);
      if (!result.ok) throw AppError.fromBody(result.error);
      const data = JSON.parse(JSON.stringify(result.data)) as unknown;
      assertMatches(endpoint.response, data, `reply from ${endpoint.subject}`, 'INTERNAL');
      return data as EndpointResponse<E>;
    } finally {
      clearTimeout(timer);
    }
  }

  async serve(service: { name: string; version: string; log: BusLogger }, handlers: EndpointHandler[]): Promise<ServiceHandle> {
    const added: Array<[string, Registration]> = handlers.map((handler) => [handler.endpoint.subject, { handler, log: service.log }]);
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
      },
    };
  }

  async ping(): Promise<void> {
    if (this.closed) throw new AppError('SERVICE_UNAVAILABLE', 'The in-process bus is closed');
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
