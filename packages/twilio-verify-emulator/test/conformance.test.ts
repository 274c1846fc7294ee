// Every response the emulator gives in realistic flows, as the SDK received it on the wire, checked
// against Twilio's official OpenAPI document (the pinned subset in spec/, see the README).
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwilioVerifyEmulator, type StartedTwilioVerifyEmulator } from '../src/index.ts';
import { EmulatorRequestClient } from '../src/request-client.ts';
import { ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID, advanceClock, failNext, latestCode, nextPhone, wrongCode } from './helpers.ts';

interface JsonSchema {
  $ref?: string;
  properties?: Record<string, unknown>;
}
interface OpenApiOperation {
  operationId: string;
  responses: Record<string, { content?: { 'application/json'?: { schema: JsonSchema } } }>;
}
interface OpenApiSubset {
  paths: Record<string, Partial<Record<'get' | 'post', OpenApiOperation>>>;
  components: { schemas: Record<string, JsonSchema> };
}

/**
 * OpenAPI 3.0 to JSON Schema for Ajv: `nullable` on a schema without `type` (e.g. `lookup`, `sna`)
 * adds nothing, since such a schema already allows null, and Ajv refuses it there.
 */
function untypedNullableDropped(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untypedNullableDropped);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).filter(([key]) => !(key === 'nullable' && !('type' in value)));
  return Object.fromEntries(entries.map(([key, v]) => [key, untypedNullableDropped(v)]));
}

const spec = untypedNullableDropped(
  JSON.parse(readFileSync(new URL('../spec/twilio_verify_v2.subset.json', import.meta.url), 'utf8')),
) as OpenApiSubset;

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(spec, 'twilio-verify');

/** The spec's one error body (`code`, `message`, `more_info`, `status`), given for CreateVerification's 429. */
const errorSchema = (() => {
  const schema = spec.paths['/v2/Services/{ServiceSid}/Verifications']?.post?.responses['429']?.content?.['application/json']?.schema;
  if (!schema?.properties) throw new Error('the spec subset has no Twilio error schema');
  return schema;
})();
const validateError = ajv.compile(errorSchema);
const ERROR_FIELDS = Object.keys(errorSchema.properties ?? {});

const resolve = (schema: JsonSchema): JsonSchema => {
  const name = schema.$ref?.replace('#/components/schemas/', '');
  return name === undefined ? schema : (spec.components.schemas[name] ?? schema);
};
const compiled = new Map<JsonSchema, ValidateFunction>();
const validatorFor = (schema: JsonSchema): ValidateFunction => {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema.$ref ? { $ref: `twilio-verify${schema.$ref}` } : schema);
    compiled.set(schema, validate);
  }
  return validate;
};

/** A path of ours as the spec's template, e.g. `/v2/Services/{ServiceSid}/Verifications/{Sid}`. */
function specPath(pathname: string): string | undefined {
  if (/^\/v2\/Services\/[^/]+\/Verifications$/.test(pathname)) return '/v2/Services/{ServiceSid}/Verifications';
  if (/^\/v2\/Services\/[^/]+\/Verifications\/[^/]+$/.test(pathname)) return '/v2/Services/{ServiceSid}/Verifications/{Sid}';
  if (/^\/v2\/Services\/[^/]+\/VerificationCheck$/.test(pathname)) return '/v2/Services/{ServiceSid}/VerificationCheck';
  return undefined;
}

interface Recorded {
  method: string;
  pathname: string;
  status: number;
  body: unknown;
  headers?: Record<string, unknown>;
}

/** The emulator's client, keeping every response exactly as it came off the wire. */
class RecordingClient extends EmulatorRequestClient {
  readonly responses: Recorded[] = [];

  override async request<TData>(opts: Parameters<EmulatorRequestClient['request']>[0] & { data?: TData }) {
    const response = await super.request<TData>(opts);
    const { pathname } = new URL(opts.uri.replace(/^https:\/\/[^/]+/, this.baseUrl));
    this.responses.push({ method: opts.method.toLowerCase(), pathname, status: response.statusCode, body: response.body, headers: response.headers as Record<string, unknown> });
    return response;
  }
}

/** Checks one response; returns the operation and status it counted as, and what did not match. */
function check(response: Recorded): { counted: string; mismatches: string[] } {
  const path = specPath(response.pathname);
  const operation = path === undefined ? undefined : spec.paths[path]?.[response.method as 'get' | 'post'];
  const where = `${response.method.toUpperCase()} ${response.pathname} ${response.status}`;
  if (!operation) return { counted: 'unknown operation', mismatches: [`${where}: no such operation in the spec`] };
  const counted = `${operation.operationId} ${response.status}`;
  // The request client hands over the body as received; parse it if it is still text.
  const body = (typeof response.body === 'string' ? JSON.parse(response.body) : response.body) as Record<string, unknown>;
  const declared = operation.responses[String(response.status)]?.content?.['application/json']?.schema;
  // Not the spec's (it lists no headers), but what a client needs of a rate limit: when to come back.
  const retryAfter = response.headers?.['retry-after'];
  const headerMismatches = response.status === 429 && !(typeof retryAfter === 'string' && /^[1-9]\d*$/.test(retryAfter)) ? [`${where}: no Retry-After (seconds) on a 429`] : [];
  if (!declared) {
    // Twilio documents its errors once, not per operation: an undeclared error status must still be
    // the spec's error body, with all of its fields.
    if (response.status < 400) return { counted, mismatches: [`${where}: status not declared for ${operation.operationId}`] };
    const missing = ERROR_FIELDS.filter((field) => !(field in body));
    const invalid = validateError(body) ? [] : [ajv.errorsText(validateError.errors)];
    const statusMatches = body['status'] === response.status ? [] : [`body status ${String(body['status'])}`];
    return { counted: `${counted} (error schema)`, mismatches: [...[...missing.map((f) => `missing ${f}`), ...invalid, ...statusMatches].map((m) => `${where}: ${m}`), ...headerMismatches] };
  }
  const validate = validatorFor(declared);
  const mismatches = validate(body) ? [...headerMismatches] : [`${where}: ${ajv.errorsText(validate.errors)}`, ...headerMismatches];
  // The spec's schemas allow extra properties; ours must not invent any.
  const known = resolve(declared).properties;
  if (known) for (const key of Object.keys(body)) if (!(key in known)) mismatches.push(`${where}: property ${key} is not in the spec`);
  return { counted, mismatches };
}

let emulator: StartedTwilioVerifyEmulator;
let recorder: RecordingClient;
const LANDLINE = '+14155550199';

beforeAll(async () => {
  emulator = await startTwilioVerifyEmulator({ landlines: [LANDLINE], blockedPrefixes: ['+88216'], geoBlockedPrefixes: ['+98'] });
  recorder = new RecordingClient(emulator.url);
});
afterAll(() => emulator.close());

const service = (sid = SERVICE_SID) => twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient: recorder }).verify.v2.services(sid);
/** Runs a call that Twilio answers with an error; the response is recorded all the same. */
const refused = async (call: Promise<unknown>, code: number) => {
  await expect(call).rejects.toMatchObject({ code });
};

describe('conformance with the official Twilio Verify v2 OpenAPI document', () => {
  it('every response of realistic flows matches the spec', async () => {
    // Send, resend, fetch, a wrong code (also one with letters), the right one, then nothing pending.
    const to = nextPhone();
    const { sid } = await service().verifications.create({ to, channel: 'sms' });
    await service().verifications.create({ to, channel: 'call' });
    await service().verifications(sid).fetch();
    const code = await latestCode(emulator.url, to);
    await service().verificationChecks.create({ to, code: wrongCode(code) });
    await service().verificationChecks.create({ to, code: 'AB12CD' });
    await service().verificationChecks.create({ verificationSid: sid, code });
    await refused(service().verificationChecks.create({ to, code }), 20404);
    await refused(service().verifications(sid).fetch(), 20404);

    // Expired.
    const late = nextPhone();
    const expiring = await service().verifications.create({ to: late, channel: 'whatsapp' });
    await advanceClock(emulator.url, 600);
    await refused(service().verificationChecks.create({ to: late, code: '123456' }), 20404);
    await refused(service().verifications(expiring.sid).fetch(), 20404);

    // Max check attempts: five wrong codes, max_attempts_reached, 60202, then deleted.
    const guessed = nextPhone();
    const attacked = await service().verifications.create({ to: guessed, channel: 'sms' });
    const right = await latestCode(emulator.url, guessed);
    for (let i = 0; i < 5; i++) await service().verificationChecks.create({ to: guessed, code: wrongCode(right) });
    await service().verifications(attacked.sid).fetch();
    await refused(service().verificationChecks.create({ to: guessed, code: right }), 60202);
    await refused(service().verificationChecks.create({ to: guessed, code: right }), 20404);
    await refused(service().verifications(attacked.sid).fetch(), 20404);

    // Max send attempts, then cancel.
    const resent = nextPhone();
    let resentSid = '';
    for (let i = 0; i < 5; i++) resentSid = (await service().verifications.create({ to: resent, channel: 'sms' })).sid;
    await refused(service().verifications.create({ to: resent, channel: 'sms' }), 60203);
    await service().verifications(resentSid).update({ status: 'canceled' });
    await refused(service().verifications(resentSid).update({ status: 'approved' }), 20404);

    // Email, then approved by update (custom codes).
    const mailed = await service().verifications.create({ to: 'someone@example.com', channel: 'email' });
    await service().verifications(mailed.sid).update({ status: 'approved' });

    // Each limit and block our code must handle.
    await refused(service().verifications.create({ to: LANDLINE, channel: 'sms' }), 60205);
    await refused(service().verifications.create({ to: '+882161234567', channel: 'sms' }), 60410);
    await refused(service().verifications.create({ to: '+989121234567', channel: 'sms' }), 60605);
    for (const limit of [20429, 60212]) {
      const limited = nextPhone();
      await failNext(emulator.url, { code: limit, to: limited });
      await refused(service().verifications.create({ to: limited, channel: 'sms' }), limit);
    }
    await failNext(emulator.url, { code: 20429, operation: 'check' });
    await refused(service().verificationChecks.create({ to: nextPhone(), code: '123456' }), 20429);

    // Requests Twilio refuses: unknown service, bad parameters, bad credentials.
    await refused(service(`VA${'b'.repeat(32)}`).verifications.create({ to: nextPhone(), channel: 'sms' }), 20404);
    await refused(service(`VA${'b'.repeat(32)}`).verificationChecks.create({ to: nextPhone(), code: '123456' }), 20404);
    await refused(service().verifications.create({ to: '12345', channel: 'sms' }), 60200);
    await refused(service().verificationChecks.create({ to: nextPhone(), code: '12' }), 60200);
    const strict = await startTwilioVerifyEmulator({ credentials: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN } });
    try {
      const strictRecorder = new RecordingClient(strict.url);
      const wrong = twilio(ACCOUNT_SID, 'not-the-token', { httpClient: strictRecorder }).verify.v2.services(SERVICE_SID);
      await refused(wrong.verifications.create({ to: nextPhone(), channel: 'sms' }), 20003);
      recorder.responses.push(...strictRecorder.responses);
    } finally {
      await strict.close();
    }

    const counts = new Map<string, number>();
    const mismatches: string[] = [];
    for (const response of recorder.responses) {
      const result = check(response);
      counts.set(result.counted, (counts.get(result.counted) ?? 0) + 1);
      mismatches.push(...result.mismatches);
    }
    const perOperation = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}: ${n}`);
    console.log(`twilio conformance: responses=${recorder.responses.length} mismatches=${mismatches.length}\n  ${perOperation.join('\n  ')}`);

    expect(mismatches).toEqual([]);
    expect(recorder.responses.length).toBeGreaterThanOrEqual(40);
    // Every operation we emulate was exercised, with success and error answers.
    for (const operation of ['CreateVerification 201', 'CreateVerificationCheck 200', 'FetchVerification 200', 'UpdateVerification 200', 'CreateVerification 429']) {
      expect(counts.get(operation), operation).toBeGreaterThan(0);
    }
  });

  it('fails on a body that does not match', () => {
    const sid = `VE${'1'.repeat(32)}`;
    const good = { method: 'get', pathname: `/v2/Services/${SERVICE_SID}/Verifications/${sid}`, status: 200 };
    expect(check({ ...good, body: JSON.stringify({ sid, valid: 'yes' }) }).mismatches).toEqual([expect.stringContaining('must be boolean')]);
    expect(check({ ...good, body: JSON.stringify({ sid, code: '123456' }) }).mismatches).toEqual([expect.stringContaining('property code is not in the spec')]);
    expect(check({ ...good, status: 404, body: JSON.stringify({ code: 20404, message: 'x', status: 404 }) }).mismatches).toEqual([expect.stringContaining('missing more_info')]);
    expect(check({ ...good, status: 204, body: '{}' }).mismatches).toEqual([expect.stringContaining('status not declared')]);
    const limited = { method: 'post', pathname: `/v2/Services/${SERVICE_SID}/Verifications`, status: 429, body: JSON.stringify({ code: 20429, message: 'x', more_info: 'y', status: 429 }) };
    expect(check({ ...limited, headers: { 'retry-after': '1' } }).mismatches).toEqual([]);
    expect(check({ ...limited, headers: {} }).mismatches).toEqual([expect.stringContaining('no Retry-After')]);
  });
});
