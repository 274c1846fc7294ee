import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** A configuration problem, worded for the operator: one line naming the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Reads environment variables against a TypeBox schema: fills defaults, converts strings to
 * numbers/booleans, and fails on the first bad variable with its name and what was expected.
 * Empty strings count as unset, as in a `.env` file with `FOO=`.
 */
export function parseEnv<T extends TObject>(schema: T, env: NodeJS.ProcessEnv = process.env): Static<T> {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const withDefaults = Value.Default(schema, input);
  const converted = Value.Convert(schema, withDefaults);
  if (!Value.Check(schema, converted)) {
    const first = Value.Errors(schema, converted).First();
    const name = first?.path.replace(/^\//, '') ?? 'environment';
    const expected = (first?.schema as { description?: string } | undefined)?.description;
    const missing = input[name] === undefined;
    throw new ConfigError(
      missing
        ? `${name} is required${expected ? ` (${expected})` : ''}`
        : `${name} is invalid: ${first?.message ?? 'unexpected value'}${expected ? ` (${expected})` : ''}`,
    );
  }
  return converted as Static<T>;
}

export const NodeEnv = Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
  default: 'development',
  description: 'development | production | test',
});

export const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
  { default: 'info', description: 'fatal | error | warn | info | debug | trace | silent' },
);

export const Port = (fallback: number) => Type.Integer({ minimum: 0, maximum: 65535, default: fallback, description: 'TCP port' });

export const MetricsEnv = {
  METRICS_ENABLED: Type.Boolean({ default: true, description: 'serve GET /metrics (Prometheus) on the service port: true | false' }),
} satisfies TProperties;

/** What every service reads: how to reach NATS and Redis, how to log. */
export const CommonEnv = {
  NODE_ENV: NodeEnv,
  LOG_LEVEL: LogLevel,
  NATS_URL: Type.String({ minLength: 1, description: 'NATS server URL(s), comma-separated, e.g. nats://127.0.0.1:4222' }),
  NATS_SUBJECT_PREFIX: Type.String({ default: '', pattern: '^([A-Za-z0-9_-]+\\.)*$', description: 'prefix for every NATS subject, ending in a dot, e.g. "staging." (empty by default)' }),
  NATS_USER: Type.Optional(Type.String({ minLength: 1, description: "this service's NATS user (deploy/nats/nats-server.conf)" })),
  NATS_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: "this service's NATS password" })),
  NATS_CREDS: Type.Optional(Type.String({ minLength: 1, description: 'path of a NATS .creds file, instead of user and password' })),
  NATS_NKEY_SEED: Type.Optional(Type.String({ pattern: '^SU[A-Z2-7]+$', description: 'an nkey user seed (SU...), instead of user and password' })),
  NATS_TLS_CA: Type.Optional(Type.String({ minLength: 1, description: 'path of the CA certificate that signed the NATS server certificate' })),
  NATS_TLS_CERT: Type.Optional(Type.String({ minLength: 1, description: 'path of the client certificate, for NATS servers that verify clients' })),
  NATS_TLS_KEY: Type.Optional(Type.String({ minLength: 1, description: 'path of the client certificate key' })),
  NATS_INBOX_PREFIX: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$', description: 'prefix of reply subjects, default _INBOX_<service>' })),
  REDIS_URL: Type.Optional(
    Type.String({ minLength: 1, description: 'Redis URL, e.g. redis://127.0.0.1:6379; with REDIS_SENTINELS only its password, user, database and rediss:// count' }),
  ),
  REDIS_SENTINELS: Type.Optional(
    Type.String({ pattern: '^[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*$', description: 'Redis Sentinels, host:port comma-separated (instead of the host of REDIS_URL)' }),
  ),
  REDIS_SENTINEL_NAME: Type.String({ default: 'mymaster', minLength: 1, description: "the primary's name in the Sentinels' configuration (sentinel monitor <name> ...)" }),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'password of the Sentinels themselves (requirepass in sentinel.conf), if they have one' })),
  REDIS_KEY_PREFIX: Type.String({ default: 'phone-login:', description: 'namespace for every Redis key' }),
  HOST: Type.String({ default: '0.0.0.0', description: 'interface to listen on' }),
  ...MetricsEnv,
} satisfies TProperties;

/** Where session ends are written (token-service): how many Redis replicas must have one before it counts. */
export const RedisDurabilityEnv = {
  REDIS_WAIT_REPLICAS: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 16, description: 'replicas that must confirm a logout (Redis WAIT) before it is acknowledged; default 1 with REDIS_SENTINELS, else 0 (off)' }),
  ),
  REDIS_WAIT_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 5_000, default: 500, description: 'how long a logout waits for the replicas, in ms; fewer in time answer 503' }),
} satisfies TProperties;

/** REDIS_WAIT_REPLICAS, or its default: 1 behind Sentinel (a failover must not undo a logout), else 0. */
export function waitReplicasOf(config: { REDIS_WAIT_REPLICAS?: number | undefined; REDIS_SENTINELS?: string | undefined }): number {
  return config.REDIS_WAIT_REPLICAS ?? (config.REDIS_SENTINELS ? 1 : 0);
}

/** What every verifier of our tokens checks (the gateway, token-service). */
export const TokenVerificationEnv = {
  JWT_ISSUER: Type.String({ default: 'phone-login', minLength: 1, description: 'the `iss` of every token' }),
  JWT_AUDIENCE: Type.String({ default: 'phone-login-api', minLength: 1, description: 'the `aud` of every token' }),
  JWT_CLOCK_TOLERANCE_SECONDS: Type.Integer({ minimum: 0, maximum: 300, default: 5, description: 'accepted clock difference when checking exp, in seconds' }),
} satisfies TProperties;

/**
 * The refresh-token reuse interval: token-service gives the previous refresh token the same pair
 * back within it, and the gateway retries a refresh only while that holds. Both read it; set it
 * the same for both.
 */
export const RefreshReuseEnv = {
  REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: Type.Integer({
    minimum: 0,
    maximum: 60,
    default: 10,
    description: 'how long the previous refresh token still gets the same new pair back (retries, concurrent tabs); 0 disables, and the gateway then never retries a refresh',
  }),
} satisfies TProperties;

/** token-service's token settings; the private keys are parsed by its config. */
export const JwtEnv = {
  ...TokenVerificationEnv,
  ...RefreshReuseEnv,
  JWT_PRIVATE_KEYS: Type.String({
    minLength: 1,
    description: 'JWK Set of Ed25519 signing keys, from `npm run keys:generate` (token-service only)',
  }),
  JWT_SIGNING_KEY_ID: Type.Optional(Type.String({ minLength: 1, description: 'kid of the key that signs (default: the first private key of JWT_PRIVATE_KEYS)' })),
  ACCESS_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, default: 86_400, description: 'access token lifetime, default 24 h' }),
  REFRESH_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, default: 2_592_000, description: 'refresh token lifetime, default 30 days' }),
} satisfies TProperties;

export type JwtSettings = Static<TObject<typeof JwtEnv>>;

/** Loads config at start; a ConfigError ends the process with one line instead of a stack trace. */
export function loadConfigOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${service}: configuration error: ${err.message}\n`);
    process.exit(1);
  }
}
