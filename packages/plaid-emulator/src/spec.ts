/**
 * The pinned subset of Plaid's OpenAPI file (spec/plaid-2020-09-14.subset.json, see its `x-source`)
 * compiled with ajv: request bodies are checked as Plaid checks them, and responses and webhook
 * bodies can be checked against the schemas the SDKs are generated from.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { SPEC_ENDPOINTS, SPEC_WEBHOOKS, type SpecEndpoint } from './spec-endpoints.ts';
// Imported, not read from disk next to this file: bundled (dist/), the JSON is inlined.
import specJson from '../spec/plaid-2020-09-14.subset.json' with { type: 'json' };

type SchemaNode = { [key: string]: unknown };
interface PinnedSpec {
  'x-source': { repository: string; path: string; commit: string; version: string };
  paths: Record<string, { post: { requestBody: { content: { 'application/json': { schema: { $ref: string } } } }; responses: Record<string, { content?: { 'application/json': { schema: { $ref: string } } } }> } }>;
  components: { schemas: Record<string, SchemaNode> };
}

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export const pinnedSpec: PinnedSpec = specJson as unknown as PinnedSpec;

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
 * The schemas with every object that lists its properties closed, even where the spec says
 * `additionalProperties: true` (so clients accept fields added later): Plaid refuses a request
 * field it does not know (UNKNOWN_FIELDS), and the emulator must send no field Plaid does not.
 */
function closedObjects(schemas: Record<string, SchemaNode>): Record<string, SchemaNode> {
  const resolve = (node: unknown): SchemaNode | undefined => {
    if (node === null || typeof node !== 'object') return undefined;
    const ref = (node as SchemaNode).$ref;
    return typeof ref === 'string' ? schemas[ref.replace('#/components/schemas/', '')] : (node as SchemaNode);
  };
  // An allOf of objects (Transaction = TransactionBase + more) becomes one object, so closing it
  // does not make each part refuse the other's fields.
  const flatten = (node: SchemaNode): SchemaNode => {
    const parts = Array.isArray(node.allOf) ? node.allOf.map(resolve) : [];
    if (parts.length < 2 || !parts.every((p) => p?.properties)) return node;
    const { allOf: _parts, ...rest } = node;
    return {
      ...rest,
      type: 'object',
      properties: Object.assign({}, ...parts.map((p) => p!.properties)) as SchemaNode,
      required: [...new Set(parts.flatMap((p) => (Array.isArray(p!.required) ? (p!.required as string[]) : [])))],
    };
  };
  const close = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(close);
    if (node === null || typeof node !== 'object') return node;
    const copy: SchemaNode = {};
    for (const [key, value] of Object.entries(flatten(node as SchemaNode))) copy[key] = close(value);
    if (copy.properties && (copy.additionalProperties === undefined || copy.additionalProperties === true)) copy.additionalProperties = false;
    return copy;
  };
  return Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, close(schema) as SchemaNode]));
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
export function webhookMismatches(body: { webhook_type?: unknown; webhook_code?: unknown; [field: string]: unknown }): string[] {
  const validate = webhookValidators.get(`${String(body.webhook_type)}/${String(body.webhook_code)}`);
  if (!validate) return [`no schema in the pinned spec for webhook ${String(body.webhook_type)}/${String(body.webhook_code)}`];
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
