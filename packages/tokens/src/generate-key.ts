// `npm run keys:generate`: prints a new Ed25519 signing key as a JWK Set for JWT_PRIVATE_KEYS.
// With the current JWT_PRIVATE_KEYS in the environment, prints the set with the new key added
// first (it signs) and the old keys kept (they still verify): the rotation procedure in the README.
import { generatePrivateJwk, parseKeySet } from './keys.ts';

const fresh = generatePrivateJwk();
const current = process.env.JWT_PRIVATE_KEYS;
const keys: unknown[] = [fresh];
if (current) {
  parseKeySet(current); // refuse to extend a malformed set
  const parsed = JSON.parse(current) as { keys?: unknown[] };
  keys.push(...(Array.isArray(parsed.keys) ? parsed.keys : [parsed]));
}
process.stderr.write(
  `New signing key kid=${fresh.kid}${current ? `, added before the ${keys.length - 1} current key(s)` : ''}. ` +
    'Keep it secret: set it as JWT_PRIVATE_KEYS for token-service only.\n',
);
process.stdout.write(`${JSON.stringify({ keys })}\n`);
