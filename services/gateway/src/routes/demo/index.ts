import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { AppError } from '@repo/contracts';

export interface DemoRoutesOptions {
  /** The Twilio Verify emulator's outbox (`…/outbox`), when the emulator is in use; the page then shows the code. */
  outboxUrl?: string | undefined;
}

// The page is plain files in the gateway package (demo/), found through the package's own exports
// (package.json "./demo/*"), which works from src/ as from the bundled dist/server.js.
const ASSETS = {
  '': { file: 'index.html', type: 'text/html; charset=utf-8' },
  'demo.js': { file: 'demo.js', type: 'text/javascript; charset=utf-8' },
  'demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
} as const;

// Everything from this origin, nothing inline, no framing: the page must run under it.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const OUTBOX_TIMEOUT_MS = 3_000;

function readAsset(file: string): Buffer {
  return readFileSync(fileURLToPath(import.meta.resolve(`@repo/gateway/demo/${file}`)));
}

/**
 * `/demo`: a page that walks through login, bank linking, accounts, transactions and logout
 * against this gateway's API. `/demo/config.json` tells it whether codes can be read from the
 * emulator's outbox (through `/demo/outbox`, same origin, so nothing else needs CORS).
 */
const demoRoutes: FastifyPluginAsync<DemoRoutesOptions> = async (app, { outboxUrl }) => {
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    const body = readAsset(file);
    // Under the prefix, '/' answers both /demo and /demo/.
    app.get(`/${path}`, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .header('content-type', type)
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(body),
    );
  }

  app.get('/config.json', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { outbox_url: outboxUrl ? '/demo/outbox' : null };
  });

  if (!outboxUrl) return;
  app.get<{ Querystring: { to: string } }>(
    '/outbox',
    {
      schema: {
        hide: true,
        querystring: {
          type: 'object',
          required: ['to'],
          additionalProperties: false,
          properties: { to: { type: 'string', minLength: 2, maxLength: 32, pattern: '^\\+[0-9]+$' } },
        },
      },
    },
    async (request, reply) => {
      let messages: Array<{ code: string; created_at: string }>;
      try {
        const res = await fetch(`${outboxUrl}?to=${encodeURIComponent(request.query.to)}`, { signal: AbortSignal.timeout(OUTBOX_TIMEOUT_MS) });
        if (!res.ok) throw new Error(`outbox answered ${res.status}`);
        ({ messages } = (await res.json()) as { messages: Array<{ code: string; created_at: string }> });
      } catch (err) {
        request.log.warn({ err }, 'demo: the Twilio emulator outbox did not answer');
        throw new AppError('SERVICE_UNAVAILABLE', 'The Twilio emulator outbox did not answer', { retryAfter: 1 });
      }
      const last = messages.at(-1);
      reply.header('cache-control', 'no-store');
      return { code: last?.code ?? null, created_at: last?.created_at ?? null };
    },
  );
};

export default demoRoutes;
