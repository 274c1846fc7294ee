import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { AppError } from '@repo/contracts';
import { MemoryWebhookReplayStore } from '@repo/stores';
import { WebhookVerifier, type WebhookKey } from '../src/webhook-verifier.ts';

const NOW = Date.parse('2024-06-01T12:00:00Z');
const BODY = '{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"item-1"}';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const plaidKeys = await generateKeyPair('ES256', { extractable: true });
const otherKeys = await generateKeyPair('ES256', { extractable: true });
const jwk: WebhookKey = { ...(await exportJWK(plaidKeys.publicKey)), kid: 'kid-1', alg: 'ES256', use: 'sig', expired_at: null };

function sign(body: string, opts: { iat?: number; key?: CryptoKey; kid?: string } = {}) {
  return new SignJWT({ request_body_sha256: sha(body) })
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'kid-1', typ: 'JWT' })
    .setIssuedAt(opts.iat ?? Math.floor(NOW / 1000) - 10)
    .sign(opts.key ?? plaidKeys.privateKey);
}

function verifier(keys: Record<string, WebhookKey> = { 'kid-1': jwk }) {
  const fetched: string[] = [];
  const v = new WebhookVerifier(async (kid) => {
    fetched.push(kid);
    const key = keys[kid];
    if (!key) throw new AppError('PLAID_INVALID_REQUEST');
    return key;
  }, { replays: new MemoryWebhookReplayStore(() => NOW), now: () => NOW });
  return { v, fetched };
}

const rejects = async (p: Promise<unknown>, why: RegExp) => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe('WEBHOOK_VERIFICATION_FAILED');
  expect((err as AppError).statusCode).toBe(401);
  expect((err as AppError).message).toMatch(why);
};

describe('WebhookVerifier', () => {
  it('accepts a webhook signed by Plaid over this exact body, and caches the key by kid', async () => {
    const { v, fetched } = verifier();
    await v.verify(BODY, await sign(BODY));
    await v.verify(BODY, await sign(BODY));
    expect(fetched).toEqual(['kid-1']);
  });

  it('refuses a missing header, garbage, HS256, an unknown kid and another key', async () => {
    const { v } = verifier();
    await rejects(v.verify(BODY, undefined), /no Plaid-Verification/);
    await rejects(v.verify(BODY, 'not-a-jwt'), /not a JWT/);
    const hs = await new SignJWT({ request_body_sha256: sha(BODY) }).setProtectedHeader({ alg: 'HS256', kid: 'kid-1' }).setIssuedAt().sign(new Uint8Array(32));
    await rejects(v.verify(BODY, hs), /HS256 is not ES256/);
    await rejects(v.verify(BODY, await sign(BODY, { kid: 'kid-unknown' })), /unknown key id/);
    await rejects(v.verify(BODY, await sign(BODY, { key: otherKeys.privateKey })), /bad signature/);
  });

  it('refuses a body that is not the signed one, even by one byte', async () => {
    const { v } = verifier();
    await rejects(v.verify(BODY.replace('item-1', 'item-2'), await sign(BODY)), /body does not match/);
    await rejects(v.verify(`${BODY} `, await sign(BODY)), /body does not match/);
  });

  it('refuses a token issued more than 5 minutes ago', async () => {
    const { v } = verifier();
    await v.verify(BODY, await sign(BODY, { iat: Math.floor(NOW / 1000) - 4 * 60 }));
    await rejects(v.verify(BODY, await sign(BODY, { iat: Math.floor(NOW / 1000) - 6 * 60 })), /older than 5 minutes/);
  });

  it('refuses a key Plaid has expired', async () => {
    const { v } = verifier({ 'kid-1': { ...jwk, expired_at: Math.floor(NOW / 1000) - 1 } });
    await rejects(v.verify(BODY, await sign(BODY)), /expired/);
  });

  it('reports Plaid being down as such, not as a forgery', async () => {
    const v = new WebhookVerifier(async () => {
      throw new AppError('PLAID_UNAVAILABLE');
    }, { replays: new MemoryWebhookReplayStore(), now: () => NOW });
    await expect(v.verify(BODY, await sign(BODY))).rejects.toMatchObject({ code: 'PLAID_UNAVAILABLE' });
  });
});

/** A verifier on a clock the test moves, counting Plaid calls. */
function clocked(keys: Record<string, WebhookKey>, opts: { keyFetchesPerMinute?: number } = {}) {
  const clock = { now: NOW };
  const fetched: string[] = [];
  const v = new WebhookVerifier(
    async (kid) => {
      fetched.push(kid);
      const key = keys[kid];
      if (!key) throw new AppError('PLAID_INVALID_REQUEST');
      return key;
    },
    { replays: new MemoryWebhookReplayStore(() => clock.now), now: () => clock.now, ...opts },
  );
  const signNow = (body = BODY, kid = 'kid-1') => sign(body, { kid, iat: Math.floor(clock.now / 1000) - 1 });
  return { v, fetched, clock, signNow };
}

describe('WebhookVerifier key cache', () => {
  it('keeps a key only until its expired_at, then asks Plaid again', async () => {
    const keys = { 'kid-1': { ...jwk, expired_at: Math.floor(NOW / 1000) + 120 } };
    const { v, fetched, clock, signNow } = clocked(keys);
    await v.verify(BODY, await signNow());
    clock.now += 60_000;
    await v.verify(BODY, await signNow());
    expect(fetched).toEqual(['kid-1']);
    clock.now += 61_000;
    await rejects(v.verify(BODY, await signNow()), /expired/);
    expect(fetched).toEqual(['kid-1', 'kid-1']);
  });

  it('re-checks a current key after an hour, and stops trusting it once Plaid has expired it', async () => {
    const keys: Record<string, WebhookKey> = { 'kid-1': { ...jwk } };
    const { v, fetched, clock, signNow } = clocked(keys);
    await v.verify(BODY, await signNow());
    keys['kid-1'] = { ...jwk, expired_at: Math.floor(clock.now / 1000) + 10 };
    clock.now += 59 * 60_000;
    await v.verify(BODY, await signNow());
    expect(fetched).toHaveLength(1);
    clock.now += 2 * 60_000;
    await rejects(v.verify(BODY, await signNow()), /expired/);
    expect(fetched).toHaveLength(2);
  });

  it('asks Plaid about an unknown kid once, then refuses it from memory', async () => {
    const { v, fetched, signNow } = clocked({ 'kid-1': jwk });
    for (let i = 0; i < 5; i++) await rejects(v.verify(BODY, await signNow(BODY, 'forged')), /unknown key id/);
    expect(fetched).toEqual(['forged']);
  });

  it('limits how often forged kids make it ask Plaid, and asks again after a minute', async () => {
    const { v, fetched, clock, signNow } = clocked({ 'kid-1': jwk }, { keyFetchesPerMinute: 3 });
    for (let i = 0; i < 10; i++) await rejects(v.verify(BODY, await signNow(BODY, `forged-${i}`)), /unknown key id|too many unknown key ids/);
    expect(fetched).toHaveLength(3);
    clock.now += 60_000;
    await v.verify(BODY, await signNow());
    expect(fetched).toHaveLength(4);
  });

  it('refuses a kid too long to be Plaid\'s without asking', async () => {
    const { v, fetched, signNow } = clocked({ 'kid-1': jwk });
    await rejects(v.verify(BODY, await signNow(BODY, 'k'.repeat(200))), /no key id/);
    expect(fetched).toEqual([]);
  });
});

describe('WebhookVerifier replays', () => {
  it('says a second delivery of the same token is a replay, and a released one is not', async () => {
    const { v, signNow } = clocked({ 'kid-1': jwk });
    const token = await signNow();
    const first = await v.verify(BODY, token);
    expect(first.replayed).toBe(false);
    expect((await v.verify(BODY, token)).replayed).toBe(true);
    if (!first.replayed) await first.release();
    expect((await v.verify(BODY, token)).replayed).toBe(false);
    // A new delivery of the same event is signed anew: not a replay.
    expect((await v.verify(BODY, await signNow())).replayed).toBe(false);
  });
});
