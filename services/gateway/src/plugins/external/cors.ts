import fp from 'fastify-plugin';
import cors from '@fastify/cors';
import { CORS_EXPOSED_HEADERS } from '../../cors.ts';

/**
 * CORS for browser apps on other origins (CORS_ORIGINS). Registered only when origins are set, so
 * the default adds nothing to a request. No credentials: the API takes bearer tokens, not cookies.
 */
export default fp<{ origins: string[] }>(
  async (app, { origins }) => {
    const allowed = new Set(origins);
    await app.register(cors, {
      // Another origin gets no CORS header at all (false turns the plugin off for the request).
      origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
      credentials: false,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: 600,
      // Preflights are answered 204 before the rate limit and authentication run.
      hook: 'onRequest',
    });
  },
  { name: 'cors' },
);
