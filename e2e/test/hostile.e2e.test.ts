// The hostile-input suite: what an attacker sends, on both run modes. Every answer must be a
// non-5xx, and every error must carry {statusCode, error, code, message}; where the exact status
// is not the point (a new limit may answer 429 first), any such 4xx passes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latestCode, login, newPhoneNumber } from './support/client.ts';
import { BROKEN_AUTHORIZATION, forgeries } from './support/forge-jwt.ts';
import { describeEachMode } from './support/modes.ts';
import { rawRequest } from './support/raw-http.ts';
import { startSystem, type System } from './support/system.ts';
import { Tally, type Answer, type Expectation } from './support/tally.ts';

const MIN_REQUESTS = 600;
const TOKEN_CODES = ['TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_MISSING'] as const;
// Failed authentications count towards rate limits: a 429 is a refusal too, but only a few may
// replace the 401 that proves the token itself was refused.
const REFUSED_TOKEN: Expectation = { status: [401, 429], codes: [...TOKEN_CODES, 'RATE_LIMITED'] };
const MAX_RATE_LIMITED_SHARE = 0.1;
const WRONG_CODE_BODY = { message: 'Invalid verification code', authenticated: false, status: 'pending', code: 'INVALID_VERIFICATION_CODE' };
const PHONE = '+14155552671';

interface SendOptions {
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  token?: string;
  /** Another system than the suite's own (the limits group runs on one with the default limits). */
  on?: System;
}

await describeEachMode('hostile input', (mode) => {
  let system: System;
  const tally = new Tally();
  let user: Awaited<ReturnType<typeof login>>;

  beforeAll(async () => {
    system = await startSystem(mode);
    user = await login(system);
  }, 120_000);
  afterAll(async () => {
    await system?.close();
  });

  async function send(method: string, path: string, options: SendOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (typeof options.body === 'string') body = options.body;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    try {
      const res = await fetch(`${(options.on ?? system).url}${path}`, { method, headers, body, signal: AbortSignal.timeout(15_000) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: kept as text, which fails the shape check if it is an error
      }
      return { status: res.status, body: parsed, text, retryAfter: res.headers.get('retry-after') };
    } catch (err) {
      return { status: 0, body: undefined, text: `no answer: ${(err as Error).message}` };
    }
  }

  async function probe(label: string, method: string, path: string, options: SendOptions, expectation: Expectation = {}) {
    const answer = await send(method, path, options);
    tally.record(label, answer, expectation);
    return answer;
  }

  /** Runs a group of checks and fails the test with the group's own failed checks. */
  async function group(run: () => Promise<void>) {
    const before = tally.failures.length;
    await run();
    const failed = tally.failures.slice(before);
    if (failed.length) console.log(failed.join("\n"));
    expect(failed).toEqual([]);
  }

  const shaped4xx: Expectation = { status: [400, 401, 403, 404, 405, 408, 409, 411, 413, 414, 415, 422, 429, 431] };
  const malformed: Expectation = { status: 400, codes: ['MALFORMED_REQUEST'] };
  const closeHeaders = 'Host: 127.0.0.1\r\nConnection: close\r\n';

  it('answers malformed HTTP on a raw socket in our shape', () =>
    group(async () => {
      const raw = async (label: string, bytes: string, expectation: Expectation, end = false) =>
        tally.record(`raw: ${label}`, await rawRequest(system.url, bytes, { end }), expectation);
      const post = (headers: string, body: string) => `POST /api/auth/send-verification HTTP/1.1\r\n${closeHeaders}Content-Type: application/json\r\n${headers}\r\n${body}`;

      await raw('not HTTP at all', 'GARBAGE\r\n\r\n', malformed);
      await raw('method only', 'GET\r\n\r\n', malformed);
      await raw('binary', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', malformed);
      await raw('unknown HTTP version', `GET /health HTTP/9.9\r\n${closeHeaders}\r\n`, shaped4xx);
      await raw('lower-case method', `get /health HTTP/1.1\r\n${closeHeaders}\r\n`, malformed);
      await raw('space in the target', `GET /he alth HTTP/1.1\r\n${closeHeaders}\r\n`, malformed);
      await raw('header without a colon', `GET /health HTTP/1.1\r\n${closeHeaders}Bad Header\r\n\r\n`, malformed);
      await raw('header with an empty name', `GET /health HTTP/1.1\r\n${closeHeaders}: value\r\n\r\n`, malformed);
      await raw('space before the colon', `GET /health HTTP/1.1\r\n${closeHeaders}X-A : 1\r\n\r\n`, malformed);
      await raw('bare CR in a header', `GET /health HTTP/1.1\r\n${closeHeaders}X-A: a\rb\r\n\r\n`, malformed);
      await raw('NUL in a header', `GET /health HTTP/1.1\r\n${closeHeaders}X-A: a\x00b\r\n\r\n`, malformed);
      await raw('obsolete line folding', `GET /health HTTP/1.1\r\n${closeHeaders}X-A: a\r\n b\r\n\r\n`, shaped4xx);
      await raw('no Host on HTTP/1.1', 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n', shaped4xx);
      // Node takes the first Host; nothing routes by it.
      await raw('two Hosts', `GET /health HTTP/1.1\r\n${closeHeaders}Host: other\r\n\r\n`, {});
      await raw('oversized header', `GET /health HTTP/1.1\r\n${closeHeaders}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`, { status: 431, codes: ['REQUEST_HEADERS_TOO_LARGE'] });
      await raw('oversized URL', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\n${closeHeaders}\r\n`, { status: [414, 431], codes: ['REQUEST_HEADERS_TOO_LARGE'] });
      await raw('3000 headers', `GET /health HTTP/1.1\r\n${closeHeaders}${Array.from({ length: 3000 }, (_, i) => `X-H${i}: ${i}\r\n`).join('')}\r\n`, {
        status: 431,
        codes: ['REQUEST_HEADERS_TOO_LARGE'],
      });
      await raw('chunk size not hex', post('Transfer-Encoding: chunked\r\n', 'ZZ\r\n{}\r\n0\r\n\r\n'), malformed);
      await raw('chunk size overflow', post('Transfer-Encoding: chunked\r\n', 'FFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n'), malformed);
      await raw('chunk without its CRLF', post('Transfer-Encoding: chunked\r\n', '2\r\n{}XX0\r\n\r\n'), malformed);
      await raw('chunk extension with a control byte', post('Transfer-Encoding: chunked\r\n', '2;\x01\r\n{}\r\n0\r\n\r\n'), malformed);
      await raw('Content-Length and chunked', post('Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), malformed);
      await raw('unknown transfer coding', post('Transfer-Encoding: gzip\r\n', '{}'), shaped4xx);
      await raw('two different Content-Lengths', post('Content-Length: 2\r\nContent-Length: 3\r\n', '{} '), malformed);
      await raw('Content-Length not a number', post('Content-Length: abc\r\n', '{}'), malformed);
      await raw('negative Content-Length', post('Content-Length: -1\r\n', '{}'), malformed);
      await raw('enormous Content-Length', post('Content-Length: 99999999999\r\n', '{}'), { ...shaped4xx, mayNotAnswer: true });
      await raw('truncated body', post('Content-Length: 100\r\n', '{"phone_number":'), { ...shaped4xx, mayNotAnswer: true }, true);
      await raw('truncated chunked body', post('Transfer-Encoding: chunked\r\n', '40\r\n{"phone'), { ...shaped4xx, mayNotAnswer: true }, true);
      await raw('request line only, then close', 'GET /health HTTP/1.1\r\n', { ...shaped4xx, mayNotAnswer: true }, true);
      await raw('smuggled request after a zero chunk', post('Transfer-Encoding: chunked\r\n', `0\r\n\r\nGET /api/auth/protected HTTP/1.1\r\n${closeHeaders}\r\n`), shaped4xx);
      // Still healthy after all that
      const health = await send('GET', '/health');
      tally.record('health after raw abuse', health, { status: 200 });
    }));

  it('answers malformed JSON with a shaped 400, never a 500', () =>
    group(async () => {
      const bodies = [
        '',
        '{',
        '}',
        '{"phone_number":',
        '{"phone_number":"+14155552671"',
        '[',
        'null',
        'true',
        '1',
        '"text"',
        '{"a":1,}',
        "{'phone_number':'+14155552671'}",
        'NaN',
        '{"phone_number":+14155552671}',
        '\ufeff{"phone_number":"x"}',
        '{"phone_number":"+14155552671"}{"x":1}',
        'a'.repeat(1000),
        `${'['.repeat(5000)}${']'.repeat(5000)}`,
        `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`,
        '{"phone_number":"\\ud800"}',
        '{"phone_number":1e999}',
        '0x10',
        '{"__proto__":{"admin":true}}',
        '{"constructor":{"prototype":{"admin":true}}}',
        '{"phone_number":"+14155552671","__proto__":{"x":1}}',
      ];
      const routes: Array<[string, string, string | undefined]> = [
        ['POST', '/api/auth/send-verification', undefined],
        ['POST', '/api/auth/verify-code', undefined],
        ['POST', '/api/auth/refresh', undefined],
        ['POST', '/api/plaid/exchange-public-token', user.tokens.access_token],
      ];
      for (const [method, path, token] of routes) {
        for (const body of bodies) {
          await probe(`JSON ${path} ${JSON.stringify(body.slice(0, 40))}`, method, path, { body, ...(token ? { token } : {}) }, shaped4xx);
        }
      }
    }));

  it('refuses wrong types and unknown properties with VALIDATION_ERROR, coercing nothing', () =>
    group(async () => {
      const wrong: unknown[] = [14155552671, true, false, null, [], ['+14155552671'], {}, { value: '+14155552671' }, 0, -1, 1.5, 'x'.repeat(10_000)];
      const validation: Expectation = { status: 400, codes: ['VALIDATION_ERROR', 'INVALID_PHONE_NUMBER'] };
      for (const value of wrong) {
        const label = JSON.stringify(value).slice(0, 30);
        await probe(`send phone_number=${label}`, 'POST', '/api/auth/send-verification', { body: { phone_number: value } }, validation);
        await probe(`send channel=${label}`, 'POST', '/api/auth/send-verification', { body: { phone_number: PHONE, channel: value } }, validation);
        await probe(`verify phone_number=${label}`, 'POST', '/api/auth/verify-code', { body: { phone_number: value, code: '123456' } }, validation);
        await probe(`verify code=${label}`, 'POST', '/api/auth/verify-code', { body: { phone_number: PHONE, code: value } }, validation);
        await probe(`refresh refresh_token=${label}`, 'POST', '/api/auth/refresh', { body: { refresh_token: value } }, { status: [400, 401], codes: ['VALIDATION_ERROR', ...TOKEN_CODES] });
        await probe(`exchange public_token=${label}`, 'POST', '/api/plaid/exchange-public-token', { body: { public_token: value }, token: user.tokens.access_token }, {
          status: 400,
          codes: ['VALIDATION_ERROR'],
        });
      }
      const extra: Array<[string, string, object]> = [
        ['send', '/api/auth/send-verification', { phone_number: PHONE, admin: true }],
        ['send', '/api/auth/send-verification', { phone_number: PHONE, channel: 'sms', to: '+15555550100' }],
        ['verify', '/api/auth/verify-code', { phone_number: PHONE, code: '123456', approved: true }],
        ['refresh', '/api/auth/refresh', { refresh_token: 'x', sub: PHONE }],
      ];
      for (const [name, path, body] of extra) await probe(`unknown property on ${name}`, 'POST', path, { body }, { status: 400, codes: ['VALIDATION_ERROR'] });
      await probe('unknown property on sandbox public token', 'POST', '/api/plaid/sandbox/public-token', { body: { institution_id: 'ins_109508', x: 1 }, token: user.tokens.access_token }, {
        status: 400,
        codes: ['VALIDATION_ERROR'],
      });
      // Querystrings arrive as strings, so they are coerced; unknown parameters are dropped, not refused.
      await probe('transactions ?unknown=1', 'GET', '/api/plaid/transactions?unknown=1', { token: user.tokens.access_token }, { status: [200, 409] });
      for (const query of ['count=abc', 'count=0', 'count=100000', 'count=1&count=2', 'offset=-1', 'start_date=2024-13-40', 'cursor=' + 'c'.repeat(600)]) {
        await probe(`transactions ?${query.slice(0, 30)}`, 'GET', `/api/plaid/transactions?${query}`, { token: user.tokens.access_token }, shaped4xx);
      }
    }));

  it('refuses huge bodies with 413 and handles truncated ones', () =>
    group(async () => {
      const huge = (size: number) => JSON.stringify({ phone_number: PHONE, pad: 'x'.repeat(size) });
      for (const size of [70_000, 200_000, 1_000_000]) {
        await probe(`huge body ${size}`, 'POST', '/api/auth/send-verification', { body: huge(size) }, { status: 413, codes: ['PAYLOAD_TOO_LARGE'], mayNotAnswer: size > 200_000 });
      }
      await probe('huge phone number', 'POST', '/api/auth/send-verification', { body: { phone_number: `+1${'4'.repeat(60_000)}` } }, shaped4xx);
      await probe('huge webhook', 'POST', '/api/plaid/webhook', { body: huge(100_000) }, { status: 413, codes: ['PAYLOAD_TOO_LARGE'] });
      for (const cut of [1, 10, 20, 30]) {
        const body = JSON.stringify({ phone_number: PHONE, code: '123456' }).slice(0, cut);
        await probe(`truncated JSON at ${cut}`, 'POST', '/api/auth/verify-code', { body }, { status: 400, codes: ['INVALID_JSON'] });
      }
    }));

  it('treats abusive headers safely: request ids, content types, many headers', () =>
    group(async () => {
      const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
      const odd = ['a'.repeat(65), 'a'.repeat(8000), 'x y', '<script>alert(1)</script>', '../../etc/passwd', 'a,b', '${jndi:ldap://x}', '"quoted"', '%00', 'id;drop', '\u00e9t\u00e9'];
      for (const id of odd) {
        const res = await fetch(`${system.url}/health`, { headers: { 'x-request-id': id } }).catch(() => undefined);
        const echoed = res?.headers.get('x-request-id') ?? '';
        tally.record(`x-request-id ${JSON.stringify(id.slice(0, 20))}`, { status: res?.status ?? 0, body: undefined, text: echoed }, { status: 200 });
        if (res && !UUID.test(echoed)) tally.failures.push(`x-request-id ${JSON.stringify(id.slice(0, 20))} was kept as ${JSON.stringify(echoed.slice(0, 40))}`);
      }
      for (const id of ['abc-123', 'req.1_A', 'a'.repeat(64)]) {
        const res = await fetch(`${system.url}/health`, { headers: { 'x-request-id': id } });
        tally.record(`safe x-request-id ${id.slice(0, 20)}`, { status: res.status, body: await res.json(), text: '' }, { status: 200 });
        if (res.headers.get('x-request-id') !== id) tally.failures.push(`safe x-request-id ${id} was not kept`);
      }
      const contentTypes = ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'garbage', 'application/json; charset=utf-7', 'application/jsonx', ';;;', 'application/json, text/plain', 'image/png'];
      for (const type of contentTypes) {
        for (const path of ['/api/auth/send-verification', '/api/auth/verify-code']) {
          await probe(`content-type ${type} on ${path}`, 'POST', path, { headers: { 'content-type': type }, body: JSON.stringify({ phone_number: PHONE, code: '123456' }) }, {
            ...shaped4xx,
            alsoBody: WRONG_CODE_BODY,
          });
        }
      }
      const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x-junk-${i}`, 'v']));
      await probe('500 junk headers', 'GET', '/health', { headers: many }, { status: 200 });
      await probe('huge cookie', 'GET', '/health', { headers: { cookie: 'a='.padEnd(12_000, 'x') } }, { status: [200, 431] });
      await probe('x-forwarded-for spoofing', 'GET', '/health', { headers: { 'x-forwarded-for': '1.2.3.4, 5.6.7.8' } }, { status: 200 });
      await probe('accept-version junk', 'GET', '/health', { headers: { 'accept-version': '999.x' } }, { status: [200, 404] });
      for (const [name, value] of BROKEN_AUTHORIZATION) {
        for (const [method, path] of [
          ['GET', '/api/auth/protected'],
          ['DELETE', '/api/auth/logout'],
          ['POST', '/api/plaid/link-token'],
        ] as const) {
          await probe(`authorization ${name} on ${path}`, method, path, { headers: { authorization: value } }, REFUSED_TOKEN);
        }
        await probe(`authorization ${name} on refresh`, 'POST', '/api/auth/refresh', { headers: { authorization: value } }, { status: [400, 401], codes: [...TOKEN_CODES, 'VALIDATION_ERROR'] });
      }
    }));

  it('refuses every JWT forgery with 401 TOKEN_INVALID/TOKEN_EXPIRED/TOKEN_MISSING', () =>
    group(async () => {
      const jwksAnswer = await send('GET', '/.well-known/jwks.json');
      tally.record('jwks', jwksAnswer, { status: [200, 404] });
      const jwks = jwksAnswer.status === 200 ? ((jwksAnswer.body as { keys?: Array<Record<string, unknown>> }).keys ?? []) : undefined;
      const forged = forgeries({ access: user.tokens.access_token, refresh: user.tokens.refresh_token, jwks });
      const routes = [
        ['GET', '/api/auth/protected'],
        ['DELETE', '/api/auth/logout'],
        ['DELETE', '/api/auth/logout-all'],
        ['POST', '/api/plaid/link-token'],
        ['GET', '/api/plaid/accounts'],
        ['GET', '/api/plaid/transactions'],
      ] as const;
      for (const [name, token] of forged) {
        for (const [method, path] of routes) {
          await probe(`forgery "${name}" on ${method} ${path}`, method, path, { token }, REFUSED_TOKEN);
        }
      }
      const limited = tally.answers.filter((a) => a.label.startsWith('forgery') && a.status === 429).length;
      if (limited > forged.length * routes.length * MAX_RATE_LIMITED_SHARE) tally.failures.push(`${limited} forgeries were rate limited instead of refused as tokens`);
      // An access token (or a forgery) is never a refresh token.
      for (const [name, token] of [['the access token', user.tokens.access_token], ...forged.filter(([n]) => n !== 'the refresh token as an access token')]) {
        await probe(`"${name}" as a refresh token`, 'POST', '/api/auth/refresh', { token }, { status: [401, 429], codes: [...TOKEN_CODES, 'TOKEN_REVOKED', 'REFRESH_TOKEN_REUSED', 'RATE_LIMITED'] });
      }
      // None of that hurt the real session.
      await probe('the real token still works', 'GET', '/api/auth/protected', { token: user.tokens.access_token }, { status: 200 });
    }));

  it('reflects nothing on 404s and odd methods or paths', () =>
    group(async () => {
      const secret = 'eyJhbGciOiJFZERTQSJ9.c2VjcmV0LWluLXBhdGg.c2ln';
      const paths = [
        `/api/${secret}`,
        `/api/nope?token=${secret}`,
        `/api/auth/protected/${secret}`,
        '/%2e%2e/%2e%2e/etc/passwd',
        '/api/../../etc/passwd',
        '/api/auth/%00',
        '/api/auth/%zz',
        '/api/plaid/items/%E0%A4%A',
        `/api/plaid/items/${'i'.repeat(500)}`,
        '/<script>alert(1)</script>',
        '//evil.example/',
        '/api/auth/send-verification/',
        '/API/AUTH/PROTECTED',
        '/api/auth/protected;jsessionid=1',
        '/__proto__',
        '/constructor/prototype',
      ];
      for (const path of paths) {
        const answer = await probe(`path ${path.slice(0, 50)}`, 'GET', path, { token: user.tokens.access_token }, shaped4xx);
        if (answer.text.includes('c2VjcmV0LWluLXBhdGg') || answer.text.includes('<script>')) tally.failures.push(`path ${path.slice(0, 50)} was reflected: ${answer.text.slice(0, 200)}`);
      }
      const routes = ['/api/auth/send-verification', '/api/auth/verify-code', '/api/auth/protected', '/api/auth/refresh', '/api/plaid/webhook', '/health', '/api/plaid/accounts', '/openapi.json'];
      for (const method of ['PUT', 'PATCH', 'TRACE', 'PROPFIND', 'CONNECT']) {
        for (const path of routes) {
          const answer = method === 'TRACE' || method === 'CONNECT' || method === 'PROPFIND'
            ? await rawRequest(system.url, `${method} ${path} HTTP/1.1\r\n${closeHeaders}\r\n`)
            : await send(method, path, { body: {} });
          // Node closes a CONNECT it has no tunnel for without answering.
          tally.record(`${method} ${path}`, answer, { ...shaped4xx, mayNotAnswer: method === 'CONNECT' });
        }
      }
    }));

  it('survives one refresh token sent 20 times at once', () =>
    group(async () => {
      const session = await login(system);
      const answers = await Promise.all(Array.from({ length: 20 }, () => send('POST', '/api/auth/refresh', { token: session.tokens.refresh_token })));
      answers.forEach((answer, i) => tally.record(`concurrent refresh #${i}`, answer, { status: [200, 401, 409, 429] }));
      expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(1);
    }));

  it('accepts one code sent 10 times at once exactly once', () =>
    group(async () => {
      const phone = newPhoneNumber();
      const sent = await send('POST', '/api/auth/send-verification', { body: { phone_number: phone } });
      tally.record('send for the concurrent check', sent, { status: 200 });
      const code = await latestCode(system, phone);
      const answers = await Promise.all(Array.from({ length: 10 }, () => send('POST', '/api/auth/verify-code', { body: { phone_number: phone, code } })));
      // The others wait for the one that asked Twilio and learn the code is used (409). One that
      // reaches auth-service only after the tokens were issued is taken for a retry whose answer
      // was lost, and gets the same pair: one session either way.
      answers.forEach((answer, i) => tally.record(`concurrent verify #${i}`, answer, { status: [200, 409, 429] }));
      const pairs = new Set(answers.filter((a) => a.status === 200).map((a) => JSON.stringify((a.body as { tokens?: unknown }).tokens)));
      if (pairs.size !== 1) tally.failures.push(`one code sent 10 times at once gave ${pairs.size} token pairs`);
    }));

  describe('with the default abuse limits', () => {
    let limited: System;
    beforeAll(async () => {
      // The defaults, but for a country allow-list to prove.
      limited = await startSystem(mode, {
        RATE_LIMIT_PER_IP_PER_MINUTE: '120',
        SEND_VERIFICATION_LIMIT_PER_IP_PER_HOUR: '30',
        SMS_MIN_INTERVAL_SECONDS: '60',
        SMS_ALLOWED_COUNTRIES: 'US,CA',
      });
    }, 120_000);
    afterAll(async () => {
      await limited?.close();
    });

    const retryAfterOf = (answer: Answer) => Number((answer.body as Record<string, unknown> | undefined)?.retry_after ?? 0);
    const sendCode = (phone: string, headers: Record<string, string> = {}) =>
      send('POST', '/api/auth/send-verification', { on: limited, body: { phone_number: phone }, headers });

    it('holds every limit: countries, one number, wrong codes, SMS pumping from one IP, forged X-Forwarded-For, failed logins', () =>
      group(async () => {
        let sends = 0;
        const sent = async (label: string, phone: string, expectation: Expectation, headers: Record<string, string> = {}) => {
          sends += 1;
          const answer = await sendCode(phone, headers);
          tally.record(label, answer, expectation);
          return answer;
        };

        // A destination outside SMS_ALLOWED_COUNTRIES never costs an SMS.
        await sent('send to a country not allowed', '+447911123456', { status: 400, codes: ['PHONE_COUNTRY_NOT_ALLOWED'] });

        // One number: a second code within the minimum interval is refused, however it is written.
        const phone = newPhoneNumber();
        await sent('first code to a number', phone, { status: 200 });
        const spaced = `+1 ${phone.slice(2, 5)} ${phone.slice(5, 8)} ${phone.slice(8)}`;
        for (const variant of [phone, spaced, `+1-${phone.slice(2)}`]) {
          const again = await sent(`second code to ${variant} within the interval`, variant, { status: 429, codes: ['VERIFICATION_SEND_TOO_SOON'] });
          if (retryAfterOf(again) <= 0) tally.failures.push(`${variant}: VERIFICATION_SEND_TOO_SOON without retry_after`);
        }

        // Guessing: never a success, and refused with a limit once Twilio's 5 checks per code are used.
        const guesses = [];
        for (let i = 0; i < 12; i++) {
          guesses.push(
            await probe(`wrong code #${i + 1}`, 'POST', '/api/auth/verify-code', { on: limited, body: { phone_number: phone, code: String(100_000 + i) } }, {
              status: [401, 429],
              codes: ['VERIFICATION_MAX_ATTEMPTS', 'VERIFICATION_LOCKED', 'RATE_LIMITED'],
              alsoBody: WRONG_CODE_BODY,
            }),
          );
        }
        if (guesses.filter((g) => g.status === 401).length > 5) tally.failures.push('more than 5 wrong codes were checked against one code');
        if (!guesses.slice(5).every((g) => g.status === 429)) tally.failures.push('wrong codes after the fifth were not refused with 429');

        // SMS pumping: many numbers from one IP, each with a different forged X-Forwarded-For.
        const pumped = [];
        for (let i = 0; i < 40; i++) {
          pumped.push(await sent(`pumped code #${i + 1}`, newPhoneNumber(), { status: [200, 429] }, { 'x-forwarded-for': `203.0.113.${i + 1}` }));
        }
        const delivered = pumped.filter((a) => a.status === 200).length;
        if (delivered > 30 - (sends - pumped.length)) tally.failures.push(`${delivered} pumped codes were sent: the per-IP limit (30 an hour) did not hold, or X-Forwarded-For chose the key`);
        const stopped = pumped.filter((a) => a.status === 429 && (a.body as Record<string, unknown>).code === 'RATE_LIMITED').length;
        if (stopped < 10) tally.failures.push(`SMS pumping from one IP was not stopped (${stopped} refused with RATE_LIMITED)`);

        // Failed authentications spend the per-IP budget (120 a minute) like any other request.
        const refused = [];
        for (let i = 0; i < 130; i++) refused.push(await probe(`forged token #${i + 1}`, 'GET', '/api/auth/protected', { on: limited, token: `forged.${i}.token` }, REFUSED_TOKEN));
        if (!refused.some((a) => a.status === 429)) tally.failures.push('130 failed logins in a minute were never rate limited');
        expect(delivered).toBeGreaterThan(0);
      }));
  });

  describe('with small SMS budgets', () => {
    // No minimum interval, so codes to one number really go out until the per-phone limit stops them.
    const PER_PHONE = 3;
    const BUDGET = 6;
    let budgeted: System;
    beforeAll(async () => {
      // The global budget counts per clock hour: start well clear of the hour's end, so the whole
      // probe runs in one hour and the budget cannot refill half-way.
      const left = 3_600_000 - (Date.now() % 3_600_000);
      if (left < 60_000) await new Promise((r) => setTimeout(r, left + 1_000));
      budgeted = await startSystem(mode, {
        SMS_MIN_INTERVAL_SECONDS: '0',
        SEND_VERIFICATION_LIMIT_PER_PHONE_PER_HOUR: String(PER_PHONE),
        SMS_HOURLY_BUDGET: String(BUDGET),
      });
    }, 240_000);
    afterAll(async () => {
      await budgeted?.close();
    });

    it('holds the per-phone hourly limit and the global hourly budget, each 429 with Retry-After', () =>
      group(async () => {
        const sendCode = (label: string, phone: string, expectation: Expectation) =>
          probe(label, 'POST', '/api/auth/send-verification', { on: budgeted, body: { phone_number: phone } }, { ...expectation, retryAfter: true });

        // One number: PER_PHONE codes go out, then the gateway refuses, however the number is written.
        const phone = newPhoneNumber();
        for (let i = 0; i < PER_PHONE; i++) await sendCode(`code #${i + 1} to one number`, phone, { status: 200 });
        const spaced = `+1 (${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`;
        for (const variant of [phone, spaced]) {
          const over = await sendCode(`code to ${variant} over the per-phone limit`, variant, { status: 429, codes: ['RATE_LIMITED'] });
          const wait = Number(over.retryAfter);
          if (over.status === 429 && !(wait > 0 && wait <= 3_600)) tally.failures.push(`per-phone limit: Retry-After ${over.retryAfter} is not within the hour`);
        }
        const sent = async () => ((await (await fetch(`${budgeted.twilioUrl}/outbox?to=${encodeURIComponent(phone)}`)).json()) as { messages: unknown[] }).messages.length;
        if ((await sent()) > PER_PHONE) tally.failures.push(`${await sent()} codes reached one number; the limit is ${PER_PHONE} an hour`);

        // Many numbers: the hourly budget (all numbers together, those codes included) runs out
        // after BUDGET codes; the next ones are refused with VERIFICATION_BUDGET_EXHAUSTED.
        const answers: Answer[] = [];
        for (let i = 0; i < BUDGET - PER_PHONE; i++) answers.push(await sendCode(`code #${i + 1} within the budget`, newPhoneNumber(), { status: 200 }));
        for (let i = 0; i < 3; i++) {
          answers.push(await sendCode(`code #${i + 1} over the budget`, newPhoneNumber(), { status: 429, codes: ['VERIFICATION_BUDGET_EXHAUSTED'] }));
        }
        const exhausted = answers.filter((a) => a.status === 429);
        for (const answer of exhausted) {
          // Until the end of the clock hour.
          const wait = Number(answer.retryAfter);
          if (!(wait > 0 && wait <= 3_600)) tally.failures.push(`budget: Retry-After ${answer.retryAfter} is not the rest of the hour`);
        }
      }));
  });

  it(`sent at least ${MIN_REQUESTS} hostile requests: no 5xx, every error shaped, every check passed`, () => {
    const line = tally.summary(`hostile suite [${mode}]`);
    console.log(line);
    expect(tally.requests).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect(tally.serverErrors).toBe(0);
    expect(tally.failures).toEqual([]);
  });
});
