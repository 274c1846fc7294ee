// `pnpm start`: the whole system in one process, no servers or credentials needed.
import { ConfigError, closeOnSignals } from '@repo/runtime';
import { startEmbedded, type EmbeddedSystem } from './start-embedded.ts';

let system: EmbeddedSystem;
try {
  system = await startEmbedded();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`embedded: configuration error: ${err.message}\n`);
    process.exit(1);
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

closeOnSignals(system.log, () => system.close());
