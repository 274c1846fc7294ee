import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, JwtEnv, Port, parseEnv } from '@repo/runtime';

export const TokenServiceEnv = Type.Object({ ...CommonEnv, ...JwtEnv, PORT: Port(3002) });
export type TokenServiceConfig = Static<typeof TokenServiceEnv>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): TokenServiceConfig {
  return parseEnv(TokenServiceEnv, env);
}
