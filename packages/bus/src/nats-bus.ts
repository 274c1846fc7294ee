import { connect, headers as natsHeaders, ErrorCode, JSONCodec, type NatsConnection, type NatsError, type Msg } from 'nats';
import { AppError, safeRequestId, type Endpoint, type EndpointRequest, type EndpointResponse } from '@repo/contracts';
import type { BusMetrics } from '@repo/telemetry';
import {
  DEADLINE_HEADER,
  DEFAULT_ATTEMPT_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  REQUEST_ID_HEADER,
  TRACEPARENT_HEADER,
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
import { connectionOptions, type NatsConnectionSettings } from './nats-connection.ts';
import { assertMatches } from './validation.ts';

const json = JSONCodec();
const SERVICE_ERROR_CODE_HEADER = 'Nats-Service-Error-Code';
const PING_TIMEOUT_MS = 900;
/** How often the bus checks that NATS still answers, and after how long without an answer it calls it silent. */
const PROBE_INTERVAL_MS = 250;
const SILENCE_MS = 1_000;

export interface NatsBusOptions extends NatsConnectionSettings {
  log: BusLogger;
  /** Total budget of a request when the caller gives none. */
  requestTimeoutMs?: number;
  /** First-attempt timeout of idempotent requests. */
  attemptTimeoutMs?: number;
  /** How long a stopping service waits for its running handlers. */
  stopTimeoutMs?: number;
  /** Prepended to every subject, so several deployments (or test runs) can share one NATS. */
  subjectPrefix?: string;
  /** Request and handler durations (see @repo/telemetry busMetrics). */
  metrics?: BusMetrics;
}

interface PendingService {
  definition: ServiceDefinition;
  handlers: EndpointHandler[];
  inFlight: InFlight;
  stop?: () => Promise<unknown>;
  stopped: boolean;
}

/**
 * The bus over NATS request/reply, each service a nats.js micro-service in its own queue group.
 * It connects in the background and keeps reconnecting: while there is no connection, requests
 * fail at once with 503 and services start serving as soon as it is up.
 */
export class NatsBus implements Bus {
  private nc: NatsConnection | undefined;
  private connected = false;
  private closing = false;
  private shuttingDown = false;
  /** Connected, but NATS has not answered a PING for SILENCE_MS (a frozen server, a dead link). */
  private silent = false;
  private readonly onSilence = new Set<() => void>();
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly services: PendingService[] = [];
  private readonly firstConnection: Promise<void>;
  private readonly defaults: { timeoutMs: number; attemptTimeoutMs: number };
  private readonly subjectPrefix: string;
  private readonly log: BusLogger;

  constructor(private readonly options: NatsBusOptions) {
    this.defaults = {
      timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      attemptTimeoutMs: options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS,
    };
    this.subjectPrefix = options.subjectPrefix ?? '';
    this.log = options.log;
    this.firstConnection = this.connectUntilUp();
  }

  /** Connects and waits for the connection (at most `waitMs`, default 10 s; a 503 until then otherwise). */
  static async connect(options: NatsBusOptions, waitMs = 10_000): Promise<NatsBus> {
    const bus = new NatsBus(options);
    await bus.whenConnected(waitMs);
    return bus;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Resolves true once connected, false if that takes longer than `timeoutMs`. */
  async whenConnected(timeoutMs: number): Promise<boolean> {
    if (this.connected) return true;
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.firstConnection.then(() => this.connected),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return result;
  }

  private async connectUntilUp(): Promise<void> {
    let lastProblem = '';
    for (let attempt = 0; !this.closing; attempt++) {
      try {
        const nc = await connect(connectionOptions(this.options));
        if (this.closing) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.connected = true;
        this.log.info({ server: nc.getServer() }, 'NATS connected');
        this.watch(nc);
        this.probe(nc);
        for (const service of this.services) await this.startLogged(nc, service);
        return;
      } catch (err) {
        const problem = (err as Error).message;
        // Once per distinct problem: a wrong password says so, then the retries stay quiet.
        if (problem !== lastProblem) this.log.warn({ err: { message: problem, code: (err as NatsError).code } }, 'NATS unreachable; retrying, bus requests answer 503 meanwhile');
        lastProblem = problem;
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, 2_000)));
      }
    }
  }

  private watch(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          this.connected = false;
          this.log.warn({ server: status.data }, 'NATS disconnected; bus requests answer 503 until it is back');
        } else if (status.type === 'reconnect') {
          this.connected = true;
          this.silent = false;
          this.log.info({ server: status.data }, 'NATS reconnected');
        } else if (status.type === 'error') {
          this.log.error({ nats: status.data, permission: status.permissionContext }, 'NATS error');
        }
      }
    })();
    void nc.closed().then(() => {
      this.connected = false;
    });
  }

  /**
   * nats.js notices a server that stopped answering only after minutes (or our pingInterval x
   * maxPingOut); until then requests would wait their whole budget. A PING every 250 ms
   * notices within SILENCE_MS: requests then fail at once, those waiting fail too, until NATS answers.
   */
  private probe(nc: NatsConnection): void {
    let outstandingSince: number | undefined;
    let expected = Date.now() + PROBE_INTERVAL_MS;
    this.probeTimer = setInterval(() => {
      const now = Date.now();
      // A late tick means this process was stalled, not NATS: judge nothing on it.
      const stalled = now - expected > PROBE_INTERVAL_MS / 2;
      expected = now + PROBE_INTERVAL_MS;
      if (!this.connected || nc.isClosed()) return;
      if (outstandingSince === undefined) {
        const sent = now;
        outstandingSince = sent;
        const settle = () => {
          if (outstandingSince === sent) outstandingSince = undefined;
        };
        nc.flush().then(() => {
          settle();
          if (this.silent) this.log.info({}, 'NATS answers again');
          this.silent = false;
        }, settle);
        return;
      }
      if (!stalled && !this.silent && now - outstandingSince > SILENCE_MS) {
        this.silent = true;
        this.log.warn({ silentMs: now - outstandingSince }, 'NATS does not answer; bus requests answer 503 until it does');
        for (const notify of this.onSilence) notify();
      }
    }, PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  /** Settles like `work`, or rejects as soon as NATS goes silent. */
  private untilSilent<T>(work: Promise<T>, subject: string): Promise<T> {
    let notify: (() => void) | undefined;
    const silenced = new Promise<never>((_, reject) => {
      notify = () => reject(unavailable(subject, 'the message bus does not answer'));
      this.onSilence.add(notify);
    });
    work.catch(() => undefined);
    return Promise.race([work, silenced]).finally(() => {
      if (notify) this.onSilence.delete(notify);
    });
  }

  async request<E extends Endpoint>(endpoint: E, payload: EndpointRequest<E>, options: RequestOptions = {}): Promise<EndpointResponse<E>> {
    const data = json.encode(payload);
    return timedRequest(this.options.metrics, endpoint.subject, () =>
      withinBudget(
        endpoint.subject,
        options,
        this.defaults,
        (attempt) => this.attempt(endpoint, data, attempt),
        (err) => this.log.warn({ reqId: options.requestId, subject: endpoint.subject, err: { message: err.message } }, 'retrying an idempotent bus request'),
      ),
    );
  }

  private async attempt<E extends Endpoint>(endpoint: E, data: Uint8Array, attempt: Attempt): Promise<EndpointResponse<E>> {
    const nc = this.nc;
    if (!nc || !this.connected || nc.isClosed()) throw unavailable(endpoint.subject, 'the message bus is disconnected');
    if (this.silent) throw unavailable(endpoint.subject, 'the message bus does not answer');
    const h = natsHeaders();
    if (attempt.requestId) h.set(REQUEST_ID_HEADER, attempt.requestId);
    h.set(DEADLINE_HEADER, String(attempt.deadline));
    if (attempt.traceparent) h.set(TRACEPARENT_HEADER, attempt.traceparent);
    let reply: Msg;
    try {
      reply = await this.untilSilent(nc.request(this.subjectPrefix + endpoint.subject, data, { timeout: attempt.timeoutMs, headers: h }), endpoint.subject);
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw toAppError(err as NatsError, endpoint.subject);
    }
    const body = reply.data.length > 0 ? json.decode(reply.data) : undefined;
    if (reply.headers?.get(SERVICE_ERROR_CODE_HEADER)) throw AppError.fromBody(body);
    assertMatches(endpoint.response, body, `reply from ${endpoint.subject}`, 'INTERNAL');
    return body as EndpointResponse<E>;
  }

  async serve(definition: ServiceDefinition, handlers: EndpointHandler[]): Promise<ServiceHandle> {
    const service: PendingService = { definition, handlers, inFlight: new InFlight(), stopped: false };
    this.services.push(service);
    if (this.nc && !this.nc.isClosed()) await this.startLogged(this.nc, service);
    else definition.log.warn({}, `${definition.name} waits for NATS before serving`);
    return {
      stop: async () => {
        service.stopped = true;
        this.services.splice(this.services.indexOf(service), 1);
        // Draining the subscriptions: NATS sends new requests to other replicas, those already
        // delivered here are still handled.
        await service.stop?.();
        const settled = await service.inFlight.settled(this.options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
        if (!settled) definition.log.warn({ running: service.inFlight.size }, `stopped ${definition.name} with handlers still running`);
      },
    };
  }

  private async startLogged(nc: NatsConnection, service: PendingService): Promise<void> {
    await this.start(nc, service).catch((err: unknown) => service.definition.log.error({ err }, `${service.definition.name} cannot serve on NATS`));
  }

  private async start(nc: NatsConnection, service: PendingService): Promise<void> {
    if (service.stopped || service.stop) return;
    const { definition, inFlight } = service;
    const srv = await nc.services.add({ name: definition.name, version: definition.version, queue: definition.name });
    service.stop = () => srv.stop();
    for (const handler of service.handlers) {
      const subject = handler.endpoint.subject;
      srv.addEndpoint(subject.replaceAll('.', '_'), {
        subject: this.subjectPrefix + subject,
        handler: (err, msg) => {
          if (err) {
            definition.log.error({ err, subject }, 'NATS endpoint error');
            return;
          }
          // Whoever published the message chose this header: the gateway's rule, or a fresh id.
          const requestId = safeRequestId(msg.headers?.get(REQUEST_ID_HEADER));
          const deadline = Number(msg.headers?.get(DEADLINE_HEADER)) || Date.now() + this.defaults.timeoutMs;
          let payload: unknown;
          try {
            payload = json.decode(msg.data);
          } catch {
            payload = undefined;
          }
          const traceparent = msg.headers?.get(TRACEPARENT_HEADER) || undefined;
          const answered = serveRequest(handler, { payload, requestId, deadline, traceparent }, definition.log, this.options.metrics).then((result) => {
            if (result.ok) msg.respond(json.encode(result.data));
            else msg.respondError(result.error.statusCode, result.error.message, json.encode(result.error));
          });
          void inFlight.track(answered).catch((e: unknown) => definition.log.error({ err: e, reqId: requestId, subject }, 'could not send the reply'));
        },
      });
    }
    definition.log.info({ subjects: service.handlers.map((h) => h.endpoint.subject) }, `${definition.name} serving on NATS`);
  }

  async ping(): Promise<void> {
    if (this.shuttingDown) throw new AppError('SERVICE_UNAVAILABLE', 'Shutting down');
    const nc = this.nc;
    if (!nc || !this.connected || nc.isClosed()) throw new AppError('SERVICE_UNAVAILABLE', 'NATS is not connected');
    if (this.silent) throw new AppError('SERVICE_UNAVAILABLE', 'NATS does not answer');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        nc.flush(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new AppError('SERVICE_UNAVAILABLE', 'NATS does not answer')), PING_TIMEOUT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  announceShutdown(): void {
    this.shuttingDown = true;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.probeTimer);
    const nc = this.nc;
    if (nc && !nc.isClosed()) {
      // Drain flushes the replies still queued; a NATS that is gone must not hold the process.
      await nc.drain().catch(() => nc.close());
    }
  }
}

function toAppError(err: NatsError, subject: string): AppError {
  if (err.code === ErrorCode.NoResponders) return unavailable(subject, 'no instance is running', { cause: err });
  if (err.code === ErrorCode.Timeout) return unavailable(subject, 'it did not answer in time', { cause: err, retryable: true });
  if (err.code === ErrorCode.PermissionsViolation) {
    // A deployment whose NATS permissions do not match the code: a bug, not an outage.
    return new AppError('INTERNAL', `NATS refused the request to ${subject}: ${err.message}`, { cause: err });
  }
  return unavailable(subject, 'the message bus is unavailable', { cause: err });
}
