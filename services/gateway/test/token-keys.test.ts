// The gateway's cache of token-service's public keys, against a JWKS endpoint served on a real
// InProcessBus whose key set the test rotates. Bus calls are counted where token-service would
// answer them; the cache's clock is the test's.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handle, InProcessBus, type BusLogger, type ServiceHandle } from '@repo/bus';
import { AppError, TokenSubjects, type Jwks } from '@repo/contracts';
import { generatePrivateJwk, parseKeySet, publicJwks, TokenSigner, type TokenKeySet } from '@repo/tokens';
import { TokenKeys } from '../src/plugins/app/token-keys.ts';

const ISSUER = 'phone-login';
const AUDIENCE = 'phone-login-api';
const PHONE = '+14155552671';
const MINUTE = 60_000;

const silent: BusLogger = { info() {}, warn() {}, error() {}, child: () => silent };

/** A signing key of token-service, and an access token signed with it. */
function signingKey(): { set: TokenKeySet; kid: string; token: string } {
  const set = parseKeySet(JSON.stringify({ keys: [generatePrivateJwk()] }));
  const signer = new TokenSigner(set, { issuer: ISSUER, audience: AUDIENCE, accessTtlSeconds: 3600, refreshTtlSeconds: 7200 });
  return { set, kid: set.signing.kid, token: signer.signPair(PHONE, `sid-${set.signing.kid.slice(0, 8)}`, 'jti-1').access_token };
}

/** What token-service publishes: the public halves of the given keys. */
const jwksOf = (...keys: Array<{ set: TokenKeySet }>): Jwks => ({ keys: keys.flatMap((k) => publicJwks(k.set).keys) });

describe('TokenKeys: the gateway picks up rotated keys', () => {
  let bus: InProcessBus;
  let service: ServiceHandle;
  let published: Jwks;
  let calls: number;
  let clock: number;
  let warnings: string[];
  let keys: TokenKeys;

  beforeEach(async () => {
    bus = new InProcessBus({ requestTimeoutMs: 2_000 });
    calls = 0;
    service = await bus.serve({ name: 'token-service', version: '1.0.0', log: silent }, [
      handle(TokenSubjects.publicKeys, async () => {
        calls += 1;
        return published;
      }),
    ]);
    clock = 1_700_000_000_000;
    warnings = [];
    keys = new TokenKeys(bus, { issuer: ISSUER, audience: AUDIENCE, clockToleranceSeconds: 5 }, { warn: (_obj: object, msg?: string) => warnings.push(msg ?? '') }, () => clock);
  });
  afterEach(async () => {
    await service.stop();
    await bus.close();
  });

  /** Resolves once the cache serves a JWKS with exactly these kids (a background refresh landed). */
  async function servedKids(expected: string[]): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const kids = (await keys.current()).keys.map((k) => k.kid);
      if (JSON.stringify(kids) === JSON.stringify(expected)) return;
      if (Date.now() > deadline) throw new Error(`served kids ${JSON.stringify(kids)}, expected ${JSON.stringify(expected)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('verifies a token with a new kid after one refetch, and refuses a second unknown kid within 10 s without asking again', async () => {
    const a = signingKey();
    const b = signingKey();
    const c = signingKey();
    published = jwksOf(a);
    expect((await keys.verify(a.token, 'access')).sub).toBe(PHONE);
    expect(calls).toBe(1);
    // Known keys are verified from the cache.
    await keys.verify(a.token, 'access');
    expect(calls).toBe(1);

    // Rotation step 1: token-service publishes B; a token signed with B costs one refetch.
    published = jwksOf(b, a);
    clock += 1_000;
    expect((await keys.verify(b.token, 'access')).sub).toBe(PHONE);
    expect(calls).toBe(2);
    expect((await keys.current()).keys.map((k) => k.kid)).toEqual([b.kid, a.kid]);

    // Another unknown kid 9.999 s later: refused at once, no bus call (forged kids are free)...
    published = jwksOf(c, b, a);
    clock += 9_999;
    const refused = await keys.verify(c.token, 'access').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('TOKEN_INVALID');
    expect(calls).toBe(2);
    // ...and a forged kid never costs more than one call per 10 s either.
    const forged = signingKey();
    await expect(keys.verify(forged.token, 'access')).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    expect(calls).toBe(2);

    // 10 s after the last refetch the next unknown kid may refetch again: C is real by now.
    clock += 1;
    expect((await keys.verify(c.token, 'access')).sub).toBe(PHONE);
    expect(calls).toBe(3);
    // B and A still verify (their tokens live on until they expire).
    await keys.verify(b.token, 'access');
    await keys.verify(a.token, 'access');
    expect(calls).toBe(3);
  });

  it('refreshes in the background 5 minutes after the last fetch, adding and dropping keys without an unknown-kid refetch', async () => {
    const a = signingKey();
    const b = signingKey();
    published = jwksOf(a);
    await keys.verify(a.token, 'access');
    expect(calls).toBe(1);

    // Rotation: B added, A retired.
    published = jwksOf(b);
    clock += 5 * MINUTE - 1;
    await keys.verify(a.token, 'access');
    await keys.current();
    expect(calls).toBe(1);

    clock += 1;
    // The request that notices the age is answered with the cached keys; the refetch runs behind it.
    expect((await keys.verify(a.token, 'access')).sub).toBe(PHONE);
    await servedKids([b.kid]);
    expect(calls).toBe(2);
    expect((await keys.verify(b.token, 'access')).sub).toBe(PHONE);
    expect(calls).toBe(2);
    // A is gone: its tokens are refused. Asking for an unknown kid costs one refetch, which still has no A.
    clock += 10_000;
    await expect(keys.verify(a.token, 'access')).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    expect(calls).toBe(3);
  });

  it('keeps verifying with the cached keys when a background refresh fails, and retries on the next request', async () => {
    const a = signingKey();
    const b = signingKey();
    published = jwksOf(a);
    await keys.verify(a.token, 'access');
    await service.stop(); // token-service is gone: the bus answers "no responders"

    clock += 5 * MINUTE;
    expect((await keys.verify(a.token, 'access')).sub).toBe(PHONE);
    const deadline = Date.now() + 10_000;
    while (warnings.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(warnings).toEqual(['could not refresh the token verification keys; using the cached ones']);
    expect((await keys.current()).keys.map((k) => k.kid)).toEqual([a.kid]);

    // Back with B: the next request after the failure refetches, since the cache is still old.
    published = jwksOf(b, a);
    service = await bus.serve({ name: 'token-service', version: '1.0.0', log: silent }, [
      handle(TokenSubjects.publicKeys, async () => {
        calls += 1;
        return published;
      }),
    ]);
    await keys.verify(a.token, 'access');
    await servedKids([b.kid, a.kid]);
  });

  it('answers 503 when the keys were never loaded and token-service cannot answer', async () => {
    await service.stop();
    const a = signingKey();
    await expect(keys.verify(a.token, 'access')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', statusCode: 503 });
    await expect(keys.current()).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(calls).toBe(0);
  });
});
