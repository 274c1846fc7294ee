/** Twilio Verify v2, mounted at `/v2`: form bodies in, Twilio JSON and Twilio error codes out. */
import formbody from '@fastify/formbody';
import type { FastifyError, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { authenticate, type TwilioCredentials } from '../authenticate.ts';
import type { Operation, Refusals } from '../refusals.ts';
import { verificationCheckResource, verificationResource } from '../resources.ts';
import {
  TwilioError,
  authenticationFailed,
  internalError,
  invalidParameter,
  resourceNotFound,
} from '../twilio-errors.ts';
import {
  CHANNELS,
  isAnyRecipient,
  isValidRecipient,
  type Channel,
  type ServiceRef,
  type VerificationStore,
} from '../verification-store.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The account the Basic auth header authenticated as. */
    accountSid: string;
  }
}

export interface VerifyRoutesOptions {
  store: VerificationStore;
  credentials?: TwilioCredentials | undefined;
  /** The Verify services that exist; any other `VA…` is 20404. */
  serviceSids: readonly string[];
  refusals: Refusals;
}

interface ServiceParams {
  ServiceSid: string;
}
interface VerificationParams extends ServiceParams {
  Sid: string;
}
interface SendBody {
  To: string;
  Channel: Channel;
  Locale?: string;
  CustomFriendlyName?: string;
}
interface CheckBody {
  Code: string;
  To?: string;
  VerificationSid?: string;
}
interface UpdateBody {
  Status: 'canceled' | 'approved';
}

const serviceSid = { type: 'string', pattern: '^VA[0-9a-fA-F]{32}$' } as const;
const serviceParams = { type: 'object', required: ['ServiceSid'], properties: { ServiceSid: serviceSid } } as const;
const verificationParams = {
  type: 'object',
  required: ['ServiceSid', 'Sid'],
  properties: { ServiceSid: serviceSid, Sid: { type: 'string' } },
} as const;

const sendBody = {
  type: 'object',
  required: ['To', 'Channel'],
  properties: {
    To: { type: 'string' },
    Channel: { type: 'string', enum: CHANNELS },
    Locale: { type: 'string' },
    CustomFriendlyName: { type: 'string' },
  },
} as const;

const checkBody = {
  type: 'object',
  required: ['Code'],
  properties: {
    // "The 4-10 character string being verified": letters are a wrong code, not a bad parameter.
    Code: { type: 'string', minLength: 4, maxLength: 10 },
    To: { type: 'string' },
    VerificationSid: { type: 'string' },
  },
} as const;

const updateBody = {
  type: 'object',
  required: ['Status'],
  properties: { Status: { type: 'string', enum: ['canceled', 'approved'] } },
} as const;

/** Twilio's 404 names the path without the API version. */
const resourcePath = (request: FastifyRequest): string => (request.url.split('?')[0] ?? '').replace(/^\/v2/, '');

const serviceOf = (request: FastifyRequest<{ Params: ServiceParams }>): ServiceRef => ({
  accountSid: request.accountSid,
  serviceSid: request.params.ServiceSid,
});

/** Fastify's own errors, re-worded the way Twilio reports the same mistakes. */
function asTwilioError(error: FastifyError, request: FastifyRequest): TwilioError {
  if (error instanceof TwilioError) return error;
  // A malformed SID in the path is a resource that does not exist, not a bad parameter.
  if (error.validation && error.validationContext === 'params') return resourceNotFound(resourcePath(request));
  if (error.validation) {
    const first = error.validation[0];
    const name = first?.keyword === 'required' ? String(first.params['missingProperty']) : (first?.instancePath.slice(1) ?? '');
    return invalidParameter(name, (request.body as Record<string, unknown>)[name]);
  }
  const status = error.statusCode ?? 500;
  // Twilio's generic codes are 20000 + the HTTP status (20400, 20405, ...).
  return status < 500 ? new TwilioError(20000 + status, status, error.message) : internalError();
}

/** Which Verify operation a matched route is, for failures queued for one operation. */
function operationOf(request: FastifyRequest): Operation {
  const route = request.routeOptions.url ?? '';
  if (route.endsWith('/VerificationCheck')) return 'check';
  if (route.endsWith('/Verifications')) return 'send';
  return request.method === 'GET' ? 'fetch' : 'update';
}

export const verifyRoutes: FastifyPluginAsync<VerifyRoutesOptions> = async (app, { store, credentials, serviceSids, refusals }) => {
  await app.register(formbody);

  app.decorateRequest('accountSid', '');
  app.addHook('onRequest', async (request) => {
    const accountSid = authenticate(request.headers.authorization, credentials);
    if (accountSid === undefined) throw authenticationFailed();
    request.accountSid = accountSid;
  });
  // Lets a request without a body fail on its first missing parameter rather than on "not an object".
  app.addHook('preValidation', async (request) => {
    request.body ??= {};
  });

  // After validation, so that a malformed request is still 60200, as at Twilio.
  app.addHook('preHandler', async (request: FastifyRequest<{ Params: Partial<ServiceParams> }>) => {
    const { ServiceSid } = request.params;
    if (ServiceSid !== undefined && !serviceSids.includes(ServiceSid)) throw resourceNotFound(resourcePath(request));
    const to = (request.body as { To?: unknown } | undefined)?.To;
    const queued = refusals.takeQueued(operationOf(request), typeof to === 'string' ? to : undefined);
    if (queued) throw queued;
  });

  app.setErrorHandler<FastifyError>((error, request, reply) => {
    const twilioError = asTwilioError(error, request);
    if (twilioError.status >= 500) request.log.error({ err: error }, 'unexpected error');
    if (twilioError.code === 20003) reply.header('www-authenticate', 'Basic realm="Twilio API"');
    // Every 429 says when to try again.
    if (twilioError.retryAfterSeconds !== undefined) reply.header('retry-after', String(twilioError.retryAfterSeconds));
    return reply.code(twilioError.status).send(twilioError.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const notFound = resourceNotFound(resourcePath(request));
    return reply.code(notFound.status).send(notFound.toBody());
  });

  app.post<{ Params: ServiceParams; Body: SendBody }>(
    '/Services/:ServiceSid/Verifications',
    { schema: { params: serviceParams, body: sendBody } },
    async (request, reply) => {
      const { To, Channel, CustomFriendlyName } = request.body;
      if (!isValidRecipient(Channel, To)) throw invalidParameter('To', To);
      const refused = refusals.forSend(To, Channel);
      if (refused) throw refused;
      const verification = store.send(serviceOf(request), To, Channel, CustomFriendlyName);
      return reply.code(201).send(verificationResource(verification));
    },
  );

  app.post<{ Params: ServiceParams; Body: CheckBody }>(
    '/Services/:ServiceSid/VerificationCheck',
    { schema: { params: serviceParams, body: checkBody } },
    async (request) => {
      const { Code, To, VerificationSid } = request.body;
      if (To === undefined && VerificationSid === undefined) throw invalidParameter('To', undefined);
      if (To !== undefined && !isAnyRecipient(To)) throw invalidParameter('To', To);
      const verification = store.check(serviceOf(request), { to: To, verificationSid: VerificationSid }, Code);
      if (!verification) throw resourceNotFound(resourcePath(request));
      return verificationCheckResource(verification);
    },
  );

  app.get<{ Params: VerificationParams }>(
    '/Services/:ServiceSid/Verifications/:Sid',
    { schema: { params: verificationParams } },
    async (request) => {
      const verification = store.describe(serviceOf(request), request.params.Sid);
      if (!verification) throw resourceNotFound(resourcePath(request));
      return verificationResource(verification);
    },
  );

  app.post<{ Params: VerificationParams; Body: UpdateBody }>(
    '/Services/:ServiceSid/Verifications/:Sid',
    { schema: { params: verificationParams, body: updateBody } },
    async (request) => {
      const verification = store.update(serviceOf(request), request.params.Sid, request.body.Status);
      if (!verification) throw resourceNotFound(resourcePath(request));
      return verificationResource(verification);
    },
  );
};
