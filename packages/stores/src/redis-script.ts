import type { Redis } from 'ioredis';

/** A Lua script run by its SHA (EVALSHA, falling back to EVAL once), with keys then arguments. */
export type RedisScript = (...args: Array<string | number>) => Promise<unknown>;

/**
 * Defines a Lua script as a command of the client (once per client, whoever asks first) and
 * returns a caller for it. With `numberOfKeys` undefined, the first argument is the key count.
 */
export function defineScript(redis: Redis, name: string, numberOfKeys: number | undefined, lua: string): RedisScript {
  const commands = redis as unknown as Record<string, RedisScript | undefined>;
  if (!commands[name]) redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
  const command = commands[name]!;
  return (...args) => command.apply(redis, args);
}
