import { corsOrigins } from './cors.ts';
import { trustProxyOption } from './trust-proxy.ts';
import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, LogLevel, NodeEnv, Port, RefreshReuseEnv, TokenVerificationEnv, parseEnv } from '@repo/runtime';

export const SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR = 30;

/** What the gateway needs, whichever way it runs. */
export const GatewayEnv = Type.Object({
  NODE_ENV: NodeEnv,
  LOG_LEVEL: LogLevel,
  ...TokenVerificationEnv,
  // token-service's: a refresh is retried only while a retry still gets the same pair back.
  ...RefreshReuseEnv,
  BUS_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000, description: 'how long the gateway waits for a service, in ms' }),
  RATE_LIMIT_PER_IP_PER_MINUTE: Type.Integer({ minimum: 1, default: 120, description: 'requests per minute per client IP' }),
  SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: Type.Integer({ minimum: 1, default: 10, description: 'codes sent to one phone number per hour' }),
  // Optional in the type so settings written out in full elsewhere stay valid; the route applies the default.
  SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: Type.Optional(
    Type.Integer({ minimum: 1, default: SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR, description: 'codes one client IP may ask for per hour, all numbers together' }),
  ),
  TRUST_PROXY: Type.Union([Type.Boolean(), Type.String({ maxLength: 2_000 })], {
    default: false,
    description: 'behind reverse proxies: how many (a hop count, e.g. 1) or their addresses/CIDRs, comma-separated (e.g. 10.0.0.0/8); never true',
  }),
  CORS_ORIGINS: Type.Optional(
    Type.String({ default: '', maxLength: 4_000, description: 'browser origins allowed to call the API, comma-separated (e.g. https://app.example.com); empty: no CORS headers' }),
  ),
  // Unset: on unless NODE_ENV=production.
  DEMO_PAGE: Type.Optional(Type.Boolean({ description: 'serve the demo page at /demo (true/false); unset: on unless NODE_ENV=production' })),
});
export type GatewaySettings = Static<typeof GatewayEnv>;

/** DEMO_PAGE, or by default: on unless NODE_ENV=production. */
export function demoPageEnabled(settings: Pick<GatewaySettings, 'DEMO_PAGE' | 'NODE_ENV'>): boolean {
  return settings.DEMO_PAGE ?? settings.NODE_ENV !== 'production';
}

export const GatewayServerEnv = Type.Object({ ...CommonEnv, ...GatewayEnv.properties, PORT: Port(3000) });

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const config = parseEnv(GatewayServerEnv, env);
  trustProxyOption(config.TRUST_PROXY);
  corsOrigins(config.CORS_ORIGINS);
  return config;
}
