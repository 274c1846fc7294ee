import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, LogLevel, NodeEnv, Port, TokenVerificationEnv, parseEnv } from '@repo/runtime';

/** What the gateway needs, whichever way it runs. */
export const GatewayEnv = Type.Object({
  NODE_ENV: NodeEnv,
  LOG_LEVEL: LogLevel,
  ...TokenVerificationEnv,
  BUS_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000, description: 'how long the gateway waits for a service, in ms' }),
  RATE_LIMIT_PER_IP_PER_MINUTE: Type.Integer({ minimum: 1, default: 120, description: 'requests per minute per client IP' }),
  SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: Type.Integer({ minimum: 1, default: 10, description: 'codes sent to one phone number per hour' }),
  TRUST_PROXY: Type.Boolean({ default: false, description: 'true behind a reverse proxy, to log the client IP from X-Forwarded-For' }),
});
export type GatewaySettings = Static<typeof GatewayEnv>;

export const GatewayServerEnv = Type.Object({ ...CommonEnv, ...GatewayEnv.properties, PORT: Port(3000) });

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  return parseEnv(GatewayServerEnv, env);
}
