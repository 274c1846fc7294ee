// The distributed system's NATS (deploy/nats/nats-server.conf) trusts no unauthenticated caller,
// and a service's credentials reach only the subjects that service needs.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { connect, ErrorCode, JSONCodec, type NatsConnection, type NatsError } from 'nats';
import { TokenSubjects } from '@repo/contracts';
import { newPhoneNumber } from './support/client.ts';
import { modes } from './support/modes.ts';
import { startSystem, type System } from './support/system.ts';
import type { NatsUser } from './support/nats-server.ts';

const json = JSONCodec();
const distributed = (await modes()).find((m) => m.mode === 'distributed');

(distributed?.skip === false ? describe : describe.skip)('NATS permissions [distributed]', () => {
  let system: System;
  const open: NatsConnection[] = [];

  const as = async (user: NatsUser, inboxPrefix = `_INBOX_${user}`) => {
    const nats = system.nats!;
    const nc = await connect({ servers: nats.url, user, pass: nats.passwords[user], inboxPrefix, reconnect: false });
    open.push(nc);
    return nc;
  };
  const refusal = (work: Promise<unknown>) => work.then(() => undefined, (err: unknown) => err as NatsError);

  beforeAll(async () => {
    system = await startSystem('distributed');
  }, 120_000);
  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close()));
    await system?.close();
  });

  it('refuses an anonymous client and a wrong password', async () => {
    const anonymous = await refusal(connect({ servers: system.nats!.url, reconnect: false }));
    expect(anonymous?.code).toBe(ErrorCode.AuthorizationViolation);
    const wrong = await refusal(connect({ servers: system.nats!.url, user: 'auth-service', pass: 'not-the-password', reconnect: false }));
    expect(wrong?.code).toBe(ErrorCode.AuthorizationViolation);
  });

  it("does not let the gateway's credentials ask for a token pair", async () => {
    const gateway = await as('gateway');
    const started = Date.now();
    const err = await refusal(gateway.request(TokenSubjects.issuePair.subject, json.encode({ phone_number: newPhoneNumber() }), { timeout: 10_000 }));
    expect(err?.code).toBe(ErrorCode.PermissionsViolation);
    expect(err?.message).toMatch(/token\.pair\.issue/);
    // Refused by the server, not timed out.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("lets auth-service's credentials ask for a token pair", async () => {
    const auth = await as('auth-service');
    const phone = newPhoneNumber();
    const reply = await auth.request(TokenSubjects.issuePair.subject, json.encode({ phone_number: phone }), { timeout: 10_000 });
    const pair = json.decode(reply.data) as { access_token?: string; refresh_token?: string };
    expect(reply.headers?.get('Nats-Service-Error-Code') ?? '').toBe('');
    expect(pair.access_token).toEqual(expect.any(String));
    expect(pair.refresh_token).toEqual(expect.any(String));
  });

  it('token-service refuses a request carrying a property it does not define, whoever may ask', async () => {
    const auth = await as('auth-service');
    const reply = await auth.request(TokenSubjects.issuePair.subject, json.encode({ phone_number: newPhoneNumber(), sid: 'chosen-by-the-caller' }), { timeout: 10_000 });
    expect(reply.headers?.get('Nats-Service-Error-Code')).toBe('400');
    expect(json.decode(reply.data)).toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it("keeps each service's replies and requests to itself", async () => {
    const gateway = await as('gateway');
    // Listening on another service's inbox, or serving its subjects, is refused.
    for (const subject of ['_INBOX_auth-service.>', TokenSubjects.issuePair.subject, 'auth.verification.check']) {
      const refused = new Promise<NatsError | undefined>((resolve) => {
        gateway.subscribe(subject, { callback: (err) => resolve(err ?? undefined) });
      });
      const err = await Promise.race([refused, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000))]);
      expect(err?.code, subject).toBe(ErrorCode.PermissionsViolation);
    }
    // And the gateway cannot take the shared default inbox to read replies there.
    const sneaky = await as('gateway', '_INBOX');
    const err = await refusal(sneaky.request('token.pair.refresh', json.encode({ refresh_token: 'x' }), { timeout: 10_000 }));
    expect(err?.code).toBe(ErrorCode.PermissionsViolation);
  });

  it('lets token-service answer but not ask', async () => {
    const token = await as('token-service');
    const err = await refusal(token.request('auth.verification.check', json.encode({ phone_number: newPhoneNumber(), code: '123456' }), { timeout: 10_000 }));
    expect(err?.code).toBe(ErrorCode.PermissionsViolation);
  });
});
