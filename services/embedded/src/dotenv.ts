// `npm start` reads the repository's `.env` (the file docker compose reads too), so one file
// configures both. Variables already set in the environment win over the file.
import { existsSync, readFileSync } from 'node:fs';
import util from 'node:util';

export interface DotEnvResult {
  /** How many variables the file set (those not already in the environment). */
  loaded: number;
  /** One line saying why the file could not be used. */
  error?: string;
}

export function loadDotEnv(file: URL, env: NodeJS.ProcessEnv): DotEnvResult {
  if (!existsSync(file)) return { loaded: 0 };
  // util.parseEnv is Node's own .env parser (the one behind --env-file), in Node 20.12 and later.
  const parseEnv = (util as { parseEnv?: (content: string) => Record<string, string> }).parseEnv;
  if (typeof parseEnv !== 'function') {
    return { loaded: 0, error: `.env is there but Node ${process.versions.node} cannot read it (Node 20.12 or later can): upgrade Node, or export its variables yourself` };
  }
  let loaded = 0;
  for (const [name, value] of Object.entries(parseEnv(readFileSync(file, 'utf8')))) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    loaded += 1;
  }
  return { loaded };
}
