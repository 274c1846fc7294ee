// `npm run keys:generate -- --out jwt-keys.json`: a new Ed25519 signing key as a JWK Set for
// JWT_PRIVATE_KEYS, written to the file (mode 0600), or to stdout without --out.
// With the current JWT_PRIVATE_KEYS in the environment, the set with the new key added first (it
// signs) and the old keys kept (they still verify): the rotation procedure in the README. The only
// file --out overwrites is the one holding that very current set.
import { closeSync, constants, fchmodSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { generatePrivateJwk, KeySetError, parseKeySet } from './keys.ts';

const USAGE = 'usage: keys:generate [--out <file>]   (JWT_PRIVATE_KEYS in the environment: rotate that set)';

class UsageError extends Error {}

function parseArgs(argv: string[]): { out: string | undefined } {
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--out' || arg === '-o') {
      const value = argv[++i];
      if (!value) throw new UsageError('--out needs a file name');
      out = value;
    } else if (arg.startsWith('--out=')) {
      out = arg.slice('--out='.length);
      if (!out) throw new UsageError('--out needs a file name');
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return { out };
}

/** The keys of a set as raw JWKs (a single JWK counts as a one-key set). */
function rawKeys(json: string): unknown[] {
  const parsed = JSON.parse(json) as { keys?: unknown[] };
  return Array.isArray(parsed.keys) ? parsed.keys : [parsed];
}

/** The same keys (kid, public and private parts), whatever the formatting. */
function sameKeys(a: string, b: string): boolean {
  const fingerprint = (json: string) => {
    const set = parseKeySet(json);
    return JSON.stringify(set.verifying.map((k) => [k.kid, k.publicJwk.x, k.privatePem ?? '']));
  };
  return fingerprint(a) === fingerprint(b);
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes `text` to `file`, readable by its owner only. `replace`: atomically over the existing file. */
function writePrivate(file: string, text: string, replace: boolean): void {
  const target = replace ? join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`) : file;
  // O_EXCL: never follows a symlink or truncates a file someone else created meanwhile.
  const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    fchmodSync(fd, 0o600); // whatever the umask
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  if (replace) {
    try {
      renameSync(target, file);
    } catch (err) {
      unlinkSync(target);
      throw err;
    }
  }
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  // Run through `npm run` / `pnpm --filter`, the process starts in packages/tokens: a relative
  // --out is meant from where the command was typed (INIT_CWD, set by npm and pnpm).
  const out = args.out === undefined ? undefined : resolve(process.env.INIT_CWD || process.cwd(), args.out);
  const current = process.env.JWT_PRIVATE_KEYS || undefined;
  let signingKid: string | undefined;
  if (current) {
    try {
      // Refuse to extend a malformed set; the key that signs today is what rotation step 1 keeps.
      signingKid = parseKeySet(current, process.env.JWT_SIGNING_KEY_ID || undefined).signing.kid;
    } catch (err) {
      if (err instanceof KeySetError) throw new UsageError(`JWT_PRIVATE_KEYS ${err.message}`);
      throw err;
    }
  }

  let replace = false;
  if (out) {
    const existing = readIfExists(out);
    if (existing !== undefined) {
      let rotatesThisFile = false;
      try {
        rotatesThisFile = current !== undefined && sameKeys(existing, current);
      } catch {
        // not a key set: certainly not the one being rotated
      }
      if (!rotatesThisFile) {
        throw new UsageError(
          `${out} exists; not overwriting it (to rotate the set it holds: JWT_PRIVATE_KEYS="$(cat ${out})" npm run keys:generate -- --out ${out})`,
        );
      }
      replace = true;
    }
  }

  const fresh = generatePrivateJwk();
  const keys: unknown[] = [fresh, ...(current ? rawKeys(current) : [])];
  const text = `${JSON.stringify({ keys })}\n`;
  if (out) writePrivate(out, text, replace);
  else process.stdout.write(text);

  const where = out ? ` written to ${out} (mode 0600)` : '';
  if (current) {
    const kept = parseKeySet(current).verifying.map((k) => k.kid);
    process.stderr.write(
      `New key kid=${fresh.kid}${where}, added before the ${kept.length} current key(s): ${kept.join(', ')}.\n` +
        `Current signing key: kid=${signingKid}. Rotation step 1: deploy this set to token-service with JWT_SIGNING_KEY_ID=${signingKid}.\n`,
    );
  } else {
    process.stderr.write(`New signing key kid=${fresh.kid}${where}. Keep it secret: set it as JWT_PRIVATE_KEYS for token-service only.\n`);
  }
}

try {
  main();
} catch (err) {
  // One line for the operator: a refusal, or what the file system said (EACCES, ENOENT of a directory...).
  if (err instanceof UsageError) process.stderr.write(`keys:generate: ${err.message}\n${USAGE}\n`);
  else if ((err as NodeJS.ErrnoException).code) process.stderr.write(`keys:generate: ${(err as Error).message}\n`);
  else throw err;
  process.exit(1);
}
