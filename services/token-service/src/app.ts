import type { FastifyBaseLogger } from 'fastify';
import { handle, type Bus } from '@repo/bus';
import { TokenSubjects } from '@repo/contracts';
import { buildBusService, type JwtSettings } from '@repo/runtime';
import type { MetricsSetup } from '@repo/telemetry';
import type { SessionStore } from '@repo/stores';
import { TokenIssuer } from './token-issuer.ts';

export interface TokenServiceDeps {
  jwt: JwtSettings;
  bus: Bus;
  sessions: SessionStore;
  logger?: FastifyBaseLogger;
  /** HTTP durations and GET /metrics. */
  metrics?: MetricsSetup;
}

export const SERVICE_NAME = 'token-service';

/** token-service: answers `token.*` on the bus; HTTP only for health checks and metrics. */
export async function buildTokenService(deps: TokenServiceDeps) {
  const issuer = new TokenIssuer(deps.jwt, deps.sessions);
  return buildBusService({
    name: SERVICE_NAME,
    bus: deps.bus,
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    readiness: [() => deps.sessions.ping()],
    handlers: [
      handle(TokenSubjects.issuePair, ({ phone_number }) => issuer.issuePair(phone_number)),
      handle(TokenSubjects.refreshPair, ({ refresh_token }) => issuer.refresh(refresh_token)),
      handle(TokenSubjects.revokeSession, async ({ sub, sid }) => {
        await issuer.revokeSession(sub, sid);
        return { revoked: true as const };
      }),
      handle(TokenSubjects.publicKeys, async () => issuer.publicKeys()),
      handle(TokenSubjects.revokeSubject, async ({ sub }) => ({ revoked_sessions: await issuer.revokeSubject(sub) })),
    ],
  });
}

export { keySetFrom, TokenServiceEnv } from './config.ts';
