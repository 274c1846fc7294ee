import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Jwks } from '@repo/contracts';
import { LIMITED, errorResponses } from '../../http/api-doc.ts';

// Long enough to spare token-service, short enough for a rotation to reach every verifier soon.
const MAX_AGE_SECONDS = 300;

/** The public keys that verify our tokens, for any service that wants to check them itself. */
const wellKnownRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/jwks.json',
    {
      schema: {
        tags: ['auth'],
        operationId: 'getJwks',
        summary: 'JSON Web Key Set: the Ed25519 public keys that verify access tokens (RFC 7517)',
        security: [],
        response: { 200: Jwks, ...errorResponses(LIMITED) },
      },
    },
    async (_request, reply) => {
      const jwks = await app.tokenKeys.current();
      reply.header('cache-control', `public, max-age=${MAX_AGE_SECONDS}`);
      return jwks;
    },
  );
};

export default wellKnownRoutes;
