import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { OpenAPIV3 } from 'openapi-types';
import { ErrorReply } from '@repo/contracts';

type Operation = OpenAPIV3.OperationObject & { 'x-body-optional'?: boolean; 'x-webhook-body'?: OpenAPIV3.SchemaObject };

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'] as const;

const REQUEST_ID: OpenAPIV3.HeaderObject = {
  description: 'The request id: the one sent when it matches [A-Za-z0-9._-]{1,64}, otherwise a fresh UUID; on every log line',
  schema: { type: 'string', example: '3c972a19-cfb6-4814-be01-bfde449dc22b' },
};
const RETRY_AFTER: OpenAPIV3.HeaderObject = {
  description: 'Seconds after which a retry may succeed',
  schema: { type: 'integer', example: 60 },
};

// The per-IP budget, on the answers of every route but the health checks (see rate-limit.ts).
const RATE_LIMIT_HEADERS: Record<string, OpenAPIV3.HeaderObject> = {
  'x-ratelimit-limit': { description: 'Requests allowed per minute from this client IP', schema: { type: 'integer', example: 600 } },
  'x-ratelimit-remaining': { description: 'Requests left in the current minute from this client IP', schema: { type: 'integer', example: 599 } },
  'x-ratelimit-reset': { description: 'Seconds until the current minute ends and the budget is whole again', schema: { type: 'integer', example: 42 } },
};
const NOT_RATE_LIMITED = new Set(['/health', '/ready']);

/** JSON Schema's `examples: [x]` as OpenAPI 3.0's `example: x`, all the way down (what @fastify/swagger does for route schemas). */
function examplesToExample(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(examplesToExample);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'examples' && Array.isArray(value)) out.example = value[0];
    else out[key] = key === 'example' ? value : examplesToExample(value);
  }
  return out;
}

/**
 * What the route schemas cannot say, added to every operation: the response headers every
 * answer carries, optional bodies (routes that fill in `{}` when none is sent), the Plaid
 * webhook's body (its route reads the raw string, so it has no body schema to validate with).
 */
function finish(document: OpenAPIV3.Document): OpenAPIV3.Document {
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const op = item?.[method] as Operation | undefined;
      if (!op) continue;
      if (op['x-body-optional'] && op.requestBody && !('$ref' in op.requestBody)) op.requestBody.required = false;
      delete op['x-body-optional'];
      const webhookBody = op['x-webhook-body'];
      if (webhookBody) {
        const schema = examplesToExample(structuredClone(webhookBody)) as OpenAPIV3.SchemaObject;
        const { example, ...rest } = schema;
        op.requestBody = { required: true, content: { 'application/json': { schema: rest, example } } };
        delete op['x-webhook-body'];
      }
      for (const [status, response] of Object.entries(op.responses)) {
        if ('$ref' in response) continue;
        response.headers = { 'x-request-id': REQUEST_ID, ...(NOT_RATE_LIMITED.has(path) ? {} : RATE_LIMIT_HEADERS), ...response.headers };
        if (/^(429|503|202)$/.test(status) || (status === '409' && path === '/api/plaid/transactions')) {
          response.headers['retry-after'] = RETRY_AFTER;
        }
        if (status === '200' && path === '/.well-known/jwks.json') {
          response.headers['cache-control'] = { description: 'Cacheable for 5 minutes', schema: { type: 'string', example: 'public, max-age=300' } };
        }
      }
    }
  }
  return document;
}

/** OpenAPI 3 from the route schemas, served at /openapi.json, with Swagger UI at /docs. */
export default fp(
  async (app) => {
    // The error body, shared: routes answer any other 4xx/5xx with { $ref: 'Error' }.
    app.addSchema(ErrorReply);
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Phone login API',
          description:
            'Log in with a phone number and an SMS code (Twilio Verify), get JWTs, link a bank account (Plaid). Every error has a stable `code` (enumerated per response); see the README.',
          version: '1.0.0',
        },
        servers: [
          { url: '/', description: 'This gateway' },
          { url: 'http://localhost:3000', description: 'Local: npm start (embedded) or the gateway on its default port' },
        ],
        tags: [
          { name: 'auth', description: 'Phone-number login, sessions and tokens' },
          { name: 'plaid', description: 'Bank linking through Plaid' },
          { name: 'health', description: 'Liveness and readiness probes' },
        ],
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The access token (`tokens.access_token` of verify-code)' },
            refreshToken: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description: 'The refresh token (`tokens.refresh_token`), for POST /api/auth/refresh only; an access token there answers 401 TOKEN_INVALID saying so',
            },
          },
        },
      },
      // Shared schemas under their own names (Error, TokenPair, Account, ...), not def-0, def-1.
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
      },
      transformObject: (documentObject) => finish((documentObject as { openapiObject: OpenAPIV3.Document }).openapiObject),
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'swagger' },
);
