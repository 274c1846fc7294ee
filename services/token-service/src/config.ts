import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, ConfigError, JwtEnv, Port, RedisDurabilityEnv, parseEnv, type JwtSettings } from '@repo/runtime';
import { KeySetError, parseKeySet, type TokenKeySet } from '@repo/tokens';

export const TokenServiceEnv = Type.Object({ ...CommonEnv, ...RedisDurabilityEnv, ...JwtEnv, PORT: Port(3002) });
export type TokenServiceConfig = Static<typeof TokenServiceEnv>;

/** The signing keys of JWT_PRIVATE_KEYS; a malformed set is a ConfigError naming the variable. */
export function keySetFrom(jwt: JwtSettings): TokenKeySet {
  try {
    return parseKeySet(jwt.JWT_PRIVATE_KEYS, jwt.JWT_SIGNING_KEY_ID);
  } catch (err) {
    if (err instanceof KeySetError) throw new ConfigError(`JWT_PRIVATE_KEYS ${err.message}`);
    throw err;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): TokenServiceConfig {
  const config = parseEnv(TokenServiceEnv, env);
  keySetFrom(config);
  return config;
}
