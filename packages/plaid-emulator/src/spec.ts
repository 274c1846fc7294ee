/**
 * The pinned subset of Plaid's OpenAPI file (spec/plaid-2020-09-14.subset.json, see its `x-source`)
 * compiled with ajv: request bodies are checked as Plaid checks them, and responses and webhook
 * bodies can be checked against the schemas the SDKs are generated from.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { SPEC_ENDPOINTS, SPEC_WEBHOOKS, type SpecEndpoint } from './spec-endpoints.ts';

type SchemaNode = { [key: string]: unknown };
interface PinnedSpec {
  'x-source': { repository: string; path: string; commit: string; version: string };
  paths: Record<string, { post: { requestBody: { content: { 'application/json': { schema: { $ref: string } } } }; responses: Record<string, { content?: { 'application/json': { schema: { $ref: string } } } }> } }>;
  components: { schemas: Record<string, SchemaNode> };
}

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export const pinnedSpec: PinnedSpec = JSON.parse(readFileSync(new URL('../spec/plaid-2020-09-14.subset.json', import.meta.url), 'utf8')) as PinnedSpec;

/** A failed check, in the words Plaid's INVALID_REQUEST errors use. */
export interface SpecViolations {
  missing: string[];
  unknown: string[];
  invalid: string[];
}

function newAjv(schemas: Record<string, SchemaNode>): Ajv {
  // strict off: the spec carries OpenAPI keywords (`example`, `x-*`, `nullable`, `deprecated`).
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addFormat('double', true);
  ajv.addFormat('url', true);
  ajv.addSchema({ components: { schemas } }, 'plaid');
  return ajv;
}

/**
 * The schemas with every object closed: Plaid refuses a request field an object does not declare
 * (UNKNOWN_FIELDS), which the spec leaves open (clients must accept fields added later).
 */
function closedObjects(schemas: Record<string, SchemaNode>): Record<string, SchemaNode> {
  const close = (node: unknown, inAllOf: boolean): unknown => {
    if (Array.isArray(node)) return node.map((n) => close(n, inAllOf));
    if (node === null || typeof node !== 'object') return node;
    const copy: SchemaNode = {};
    for (const [key, value] of Object.entries(node as SchemaNode)) copy[key] = close(value, key === 'allOf');
    if (!inAllOf && copy.properties && copy.additionalProperties === undefined && !copy.allOf) copy.additionalProperties = false;
    return copy;
  };
  return close(schemas, false) as Record<string, SchemaNode>;
}

/**
 * OpenAPI 3.0 in JSON Schema terms: `nullable` (which ajv would apply to `$ref` and `allOf` too)
 * and the boolean `exclusiveMinimum`/`exclusiveMaximum`.
 */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const { nullable, ...rest } = node as SchemaNode;
  const copy: SchemaNode = {};
  for (const [key, value] of Object.entries(rest)) copy[key] = toJsonSchema(value);
  for (const [exclusive, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof copy[exclusive] !== 'boolean') continue;
    if (copy[exclusive] === true) copy[exclusive] = copy[bound];
    else delete copy[exclusive];
    if (copy[exclusive] !== undefined) delete copy[bound];
  }
  if (nullable !== true) return copy;
  if (typeof copy.type === 'string') {
    copy.type = [copy.type, 'null'];
    if (Array.isArray(copy.enum) && !copy.enum.includes(null)) copy.enum = [...(copy.enum as unknown[]), null];
    return copy;
  }
  return { anyOf: [copy, { type: 'null' }] };
}

const refOf = (name: string) => ({ $ref: `plaid#/components/schemas/${name}` });
const schemaName = (ref: string) => ref.replace('#/components/schemas/', '');

const jsonSchemas = toJsonSchema(pinnedSpec.components.schemas) as Record<string, SchemaNode>;
// Closed for responses and webhooks too: the emulator sends no field the spec does not declare.
const ajv = newAjv(closedObjects(jsonSchemas));

const requestValidators = new Map<string, ValidateFunction>();
const responseValidators = new Map<string, ValidateFunction>();
for (const path of SPEC_ENDPOINTS) {
  const op = pinnedSpec.paths[path]!.post;
  requestValidators.set(path, ajv.compile(refOf(schemaName(op.requestBody.content['application/json'].schema.$ref))));
  responseValidators.set(path, ajv.compile(refOf(schemaName(op.responses['200']!.content!['application/json'].schema.$ref))));
}
const errorValidator = ajv.compile(refOf('PlaidError'));
const webhookValidators = new Map(Object.entries(SPEC_WEBHOOKS).map(([key, name]) => [key, ajv.compile(refOf(name))]));

export function isSpecEndpoint(path: string): path is SpecEndpoint {
  return requestValidators.has(path);
}

/** The request body's violations of the endpoint's request schema, or undefined if it conforms. */
export function checkRequest(path: SpecEndpoint, body: unknown): SpecViolations | undefined {
  const validate = requestValidators.get(path)!;
  if (validate(body)) return undefined;
  return violations(validate.errors ?? []);
}

function violations(errors: ErrorObject[]): SpecViolations {
  const field = (e: ErrorObject, name?: string) => [...e.instancePath.split('/').filter(Boolean), ...(name ? [name] : [])].join('.');
  const result: SpecViolations = { missing: [], unknown: [], invalid: [] };
  for (const e of errors) {
    if (e.keyword === 'required') result.missing.push(field(e, String(e.params.missingProperty)));
    else if (e.keyword === 'additionalProperties') result.unknown.push(field(e, String(e.params.additionalProperty)));
    else if (e.keyword !== 'if' && e.keyword !== 'anyOf') result.invalid.push(`${field(e) || 'body'} ${e.message ?? 'is invalid'}${e.keyword === 'enum' ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : ''}`);
  }
  return { missing: [...new Set(result.missing)], unknown: [...new Set(result.unknown)], invalid: [...new Set(result.invalid)] };
}

/** Why a body is not what the spec says the endpoint answers (200 or error), or [] when it is. */
export function responseMismatches(path: string, status: number, body: unknown): string[] {
  const validate = status === 200 ? responseValidators.get(path) : errorValidator;
  if (!validate) return [`no schema in the pinned spec for ${path} ${status}`];
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** Why a webhook body is not its spec schema (picked by webhook_type/webhook_code), or [] when it is. */
export function webhookMismatches(body: { webhook_type?: unknown; webhook_code?: unknown }): string[] {
  const validate = webhookValidators.get(`${String(body.webhook_type)}/${String(body.webhook_code)}`);
  const name = SPEC_WEBHOOKS[`${String(body.webhook_type)}/${String(body.webhook_code)}` as keyof typeof SPEC_WEBHOOKS];
  if (!validate || !name) return [`no schema in the pinned spec for webhook ${String(body.webhook_type)}/${String(body.webhook_code)}`];
  // Webhook schemas are open, but a field the spec does not name (`error: null` on LOGIN_REPAIRED) is ours, not Plaid's.
  const declared = Object.keys((pinnedSpec.components.schemas[name]!.properties ?? {}) as SchemaNode);
  const undeclared = Object.keys(body).filter((key) => !declared.includes(key)).map((key) => `/${key} is not a field of ${name}`);
  if (validate(body)) return undeclared;
  return [...undeclared, ...(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)];
}
