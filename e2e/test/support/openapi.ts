// Checks answers against the gateway's OpenAPI document: the status must be declared for the
// operation, the body must match that response's schema (Ajv, components resolved in place), and
// the declared headers that every answer carries must be there.
import { Ajv, type ValidateFunction } from 'ajv';
import type { Reply } from './client.ts';

interface Schema {
  [key: string]: unknown;
}
interface Response {
  content?: Record<string, { schema?: Schema }>;
  headers?: Record<string, unknown>;
}
interface Operation {
  operationId?: string;
  responses: Record<string, Response>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

export class ResponseValidator {
  // strict off: OpenAPI 3.0 adds `example`, which JSON Schema does not know; Ajv reads `nullable`.
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly compiled = new Map<Schema, ValidateFunction>();
  private readonly routes: Array<{ pattern: RegExp; path: string; item: Record<string, Operation> }>;
  /** How many answers were checked, per operationId and status. */
  readonly checked: string[] = [];

  constructor(private readonly doc: OpenApiDocument) {
    this.routes = Object.entries(doc.paths).map(([path, item]) => ({
      path,
      item,
      pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  /** The problems of one answer (none: it is what the document says). */
  problems(method: string, url: string, reply: Reply): string[] {
    const path = url.split('?')[0]!;
    const route = this.routes.find((r) => r.pattern.test(path));
    const op = route?.item[method.toLowerCase()];
    if (!route || !op) return [`${method} ${path} is not in the document`];
    const status = String(reply.status);
    const response = op.responses[status] ?? op.responses[`${status[0]}XX`] ?? op.responses.default;
    const where = `${op.operationId} ${status}`;
    if (!response) return [`${where}: status ${status} is not declared (declared: ${Object.keys(op.responses).join(', ')})`];
    const out: string[] = [];
    for (const header of Object.keys(response.headers ?? {})) {
      // Retry-After is sent where a retry makes sense; x-request-id on every answer.
      if (header === 'x-request-id' && !reply.headers.get(header)) out.push(`${where}: no ${header} header`);
    }
    const schema = response.content?.['application/json']?.schema;
    if (schema) {
      const validate = this.validator(schema);
      if (!validate(reply.body)) out.push(`${where}: ${this.ajv.errorsText(validate.errors)} in ${JSON.stringify(reply.body).slice(0, 500)}`);
    } else if (reply.body !== undefined) {
      out.push(`${where}: a body where the document declares none`);
    }
    this.checked.push(where);
    return out;
  }

  private validator(schema: Schema): ValidateFunction {
    let validate = this.compiled.get(schema);
    if (!validate) {
      // The response schema as the root, the document's components beside it: its `#/components/...` refs resolve.
      validate = this.ajv.compile({ ...schema, components: this.doc.components });
      this.compiled.set(schema, validate);
    }
    return validate;
  }
}
