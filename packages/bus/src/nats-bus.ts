import { connect, headers as natsHeaders, ErrorCode, JSONCodec, type NatsConnection, type NatsError } from 'nats';
import { AppError, type Endpoint, type EndpointRequest, type EndpointResponse } from '@repo/contracts';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  REQUEST_ID_HEADER,
  type Bus,
  type BusLogger,
  type EndpointHandler,
  type RequestOptions,
  type ServiceHandle,
} from './bus.ts';
import { dispatch } from './dispatch.ts';
import { assertMatches } from './validation.ts';

const json = JSONCodec();
const SERVICE_ERROR_CODE_HEADER = 'Nats-Service-Error-Code';

export interface NatsBusOptions {
  url: string;
  /** Shown in `nats server report connections`. */
  name: string;
  log: BusLogger;
  requestTimeoutMs?: number;
  /** Prepended to every subject, so several deployments (or test runs) can share one NATS. */
  subjectPrefix?: string;
}

/** The bus over NATS request/reply, each service a nats.js micro-service in its own queue group. */
export class NatsBus implements Bus {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly requestTimeoutMs: number,
    private readonly subjectPrefix: string,
  ) {}

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({
      servers: options.url.split(','),
      name: options.name,
      // Keep trying through NATS restarts; requests fail fast (no responders / timeout) meanwhile.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      timeout: 5_000,
    });
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect' || status.type === 'reconnect') {
          options.log.warn({ nats: status.type, server: status.data }, `NATS ${status.type}`);
        }
      }
    })();
    return new NatsBus(nc, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, options.subjectPrefix ?? '');
  }

  async request<E extends Endpoint>(endpoint: E, payload: EndpointRequest<E>, options: RequestOptions = {}): Promise<EndpointResponse<E>> {
    const h = natsHeaders();
    if (options.requestId) h.set(REQUEST_ID_HEADER, options.requestId);
    let reply;
    try {
      reply = await this.nc.request(this.subjectPrefix + endpoint.subject, json.encode(payload), {
        timeout: options.timeoutMs ?? this.requestTimeoutMs,
        headers: h,
      });
    } catch (err) {
      throw toUnavailable(err as NatsError, endpoint.subject);
    }
    const body = reply.data.length > 0 ? json.decode(reply.data) : undefined;
    if (reply.headers?.get(SERVICE_ERROR_CODE_HEADER)) throw AppError.fromBody(body);
    assertMatches(endpoint.response, body, `reply from ${endpoint.subject}`, 'INTERNAL');
    return body as EndpointResponse<E>;
  }

  async serve(service: { name: string; version: string; log: BusLogger }, handlers: EndpointHandler[]): Promise<ServiceHandle> {
    const srv = await this.nc.services.add({ name: service.name, version: service.version, queue: service.name });
    for (const handler of handlers) {
      srv.addEndpoint(handler.endpoint.subject.replaceAll('.', '_'), {
        subject: this.subjectPrefix + handler.endpoint.subject,
        handler: (err, msg) => {
          if (err) {
            service.log.error({ err, subject: handler.endpoint.subject }, 'NATS endpoint error');
            return;
          }
          const requestId = msg.headers?.get(REQUEST_ID_HEADER) || undefined;
          const log = service.log.child({ reqId: requestId, subject: handler.endpoint.subject });
          let payload: unknown;
          try {
            payload = json.decode(msg.data);
          } catch {
            payload = undefined;
          }
          void dispatch(handler, payload, { requestId, log }).then((result) => {
            if (result.ok) msg.respond(json.encode(result.data));
            else msg.respondError(result.error.statusCode, result.error.message, json.encode(result.error));
          });
        },
      });
    }
    return { stop: () => srv.stop().then(() => undefined) };
  }

  async ping(): Promise<void> {
    if (this.nc.isClosed()) throw new AppError('SERVICE_UNAVAILABLE', 'NATS connection is closed');
    await this.nc.flush();
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}

function toUnavailable(err: NatsError, subject: string): AppError {
  const why =
    err.code === ErrorCode.NoResponders
      ? 'no instance is running'
      : err.code === ErrorCode.Timeout
        ? 'it did not answer in time'
        : 'the message bus is unavailable';
  return new AppError('SERVICE_UNAVAILABLE', `The service behind ${subject.split('.')[0]} is unavailable: ${why}`, {
    cause: err,
    retryAfter: 1,
  });
}
