// `npm start`: the whole system in one process, no servers or credentials needed.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, closeOnSignals } from '@repo/runtime';
import { loadDotEnv } from './dotenv.ts';
import { startEmbedded, type EmbeddedSystem } from './start-embedded.ts';

function fail(line: string): never {
  process.stderr.write(`embedded: ${line}\n`);
  process.exit(1);
}

// The repository's .env, or the file ENV_FILE names.
const envFile = process.env.ENV_FILE ? pathToFileURL(resolve(process.env.ENV_FILE)) : new URL('../../../.env', import.meta.url);
const dotEnv = loadDotEnv(envFile, process.env);
if (dotEnv.error) fail(dotEnv.error);

let system: EmbeddedSystem;
try {
  system = await startEmbedded();
} catch (err) {
  if (err instanceof ConfigError) fail(`configuration error: ${err.message}`);
  const { code, port, address } = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (code === 'EADDRINUSE') {
    fail(`port ${port} on ${address} is taken (another \`npm start\`?): stop that process, or pick another port, e.g. PORT=${(port ?? 3000) + 1} npm start`);
  }
  throw err;
}

const phone = '+14155552671';
const lines = [
  '',
  `  Phone login is running (embedded: one process, in-memory stores${process.env.REDIS_URL ? ' -> Redis' : ''}).`,
  '',
  `  Gateway        ${system.url}`,
  `  API docs       ${system.url}/docs`,
];
if (system.demoPage) lines.push(`  Demo page      ${system.url}/demo   (log in, link the sandbox bank, see transactions)`);
if (system.twilioEmulatorUrl) {
  lines.push(`  SMS outbox     ${system.twilioEmulatorUrl}/outbox?to=%2B${phone.slice(1)}   (codes "sent" by the Twilio Verify emulator)`);
}
if (system.plaidEmulatorUrl) lines.push(`  Plaid emulator ${system.plaidEmulatorUrl}   (no Plaid credentials: sandbox data, offline)`);
if (dotEnv.loaded > 0) lines.push(`  Settings       ${dotEnv.loaded} from .env (variables already set in the environment win)`);
for (const moved of system.movedEmulators) {
  lines.push(
    '',
    `  !! Port ${moved.wantedPort} is taken: the ${moved.name} is on ${moved.url} instead (use that URL where the README says 127.0.0.1:${moved.wantedPort}; ${moved.variable} picks the port).`,
  );
}
lines.push(
  '',
  `  Try it:  npm run try${system.url === 'http://127.0.0.1:3000' ? '' : ` -- --api ${system.url}`}   (a login walkthrough), or by hand:`,
  `    curl -s -X POST ${system.url}/api/auth/send-verification -H 'content-type: application/json' -d '{"phone_number":"${phone}"}'`,
);
if (system.twilioEmulatorUrl) lines.push(`    curl -s '${system.twilioEmulatorUrl}/outbox?to=%2B${phone.slice(1)}'`);
lines.push(
  `    curl -s -X POST ${system.url}/api/auth/verify-code -H 'content-type: application/json' -d '{"phone_number":"${phone}","code":"<code>"}'`,
  '',
  '  Ctrl-C stops it.',
  '',
);
process.stdout.write(`${lines.join('\n')}\n`);

// Ctrl-C: a graceful stop, one line, exit 0.
closeOnSignals(system.log, async () => {
  await system.close();
  process.stdout.write('  Stopped.\n');
});
