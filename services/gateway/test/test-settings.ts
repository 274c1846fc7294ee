// The gateway's settings as a test builds it directly (no environment parsing), for tests that
// override a few of them.
import type { GatewaySettings } from '../src/app.ts';

export const testSettings = {
  NODE_ENV: 'test' as const,
  LOG_LEVEL: 'silent',
  JWT_ISSUER: 'phone-login',
  JWT_AUDIENCE: 'phone-login-api',
  JWT_CLOCK_TOLERANCE_SECONDS: 5,
  REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: 10,
  BUS_TIMEOUT_MS: 2_000,
  TRUST_PROXY: false,
  RATE_LIMIT_PER_IP_PER_MINUTE: 1_000,
  SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: 3,
} satisfies Partial<GatewaySettings>;
