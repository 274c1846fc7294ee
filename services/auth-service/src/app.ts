import type { FastifyBaseLogger } from 'fastify';
import { handle, type Bus } from '@repo/bus';
import { AuthSubjects } from '@repo/contracts';
import { buildBusService } from '@repo/runtime';
import { upstreamMetrics, type MetricsSetup } from '@repo/telemetry';
import type { VerificationLimits, VerificationLog } from '@repo/stores';
import type { AuthSettings } from './config.ts';
import { PhoneVerification } from './phone-verification.ts';
import { createTwilioVerify, type VerifyProvider } from './twilio-verify.ts';

export interface AuthServiceDeps {
  settings: AuthSettings;
  bus: Bus;
  verificationLog: VerificationLog;
  /** Send and guessing limits; Redis in production so every replica shares them. */
  limits: VerificationLimits;
  /** Defaults to the real twilio SDK built from settings.twilio. */
  provider?: VerifyProvider;
  logger?: FastifyBaseLogger;
  /** Twilio call durations, HTTP durations and GET /metrics. */
  metrics?: MetricsSetup;
}

export const SERVICE_NAME = 'auth-service';

/** auth-service: answers `auth.*` on the bus; HTTP only for health checks and metrics. */
export async function buildAuthService(deps: AuthServiceDeps) {
  const verification = new PhoneVerification({
    provider: deps.provider ?? createTwilioVerify(deps.settings.twilio, deps.metrics && upstreamMetrics(deps.metrics.registry, 'twilio')),
    log: deps.verificationLog,
    limits: deps.limits,
    policy: deps.settings.policy,
    testPhoneNumbers: deps.settings.testPhoneNumbers,
    bus: deps.bus,
  });
  return buildBusService({
    name: SERVICE_NAME,
    bus: deps.bus,
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    handlers: [
      handle(AuthSubjects.sendVerification, async ({ phone_number, channel }, ctx) => {
        await verification.send(phone_number, channel, ctx);
        return { status: 'pending' as const };
      }),
      handle(AuthSubjects.checkVerification, async ({ phone_number, code }, ctx) => ({
        phone_number,
        tokens: await verification.check(phone_number, code, ctx),
      })),
    ],
  });
}

export { AuthEnv, EMULATOR_CREDENTIALS, resolveAuthSettings, type AuthSettings, type VerificationPolicy } from './config.ts';
