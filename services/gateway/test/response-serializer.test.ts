// The gateway's response serializers: one compiled per distinct schema, each serializing as
// Fastify's own (fast-json-stringify) does.
import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import { describe, expect, it } from 'vitest';
import { buildSerializer } from '../src/http/response-serializer.ts';

const shared = { Error: { $id: 'Error', type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } };
const body = (codes: string[]) => ({ type: 'object', properties: { code: { type: 'string', enum: codes }, statusCode: { type: 'integer' } } });
const route = (schema: unknown, url = '/a', httpStatus = '503') => ({ schema, method: 'GET', url, httpStatus });

describe('buildSerializer', () => {
  const compile = (buildSerializer as unknown as (e: unknown, o: unknown) => (r: ReturnType<typeof route>) => (doc: unknown) => string)(shared, {});

  it('compiles a schema once, whichever routes and statuses declare it', () => {
    const first = compile(route(body(['SERVICE_UNAVAILABLE'])));
    expect(compile(route(body(['SERVICE_UNAVAILABLE']), '/b', '503'))).toBe(first);
    expect(compile(route(body(['SERVICE_UNAVAILABLE', 'STORE_UNAVAILABLE'])))).not.toBe(first);
    expect(compile(route({ $ref: 'Error#' }))).not.toBe(first);
  });

  it('serializes as Fastify\'s compiler does: declared properties only, shared schemas resolved', () => {
    const fastify = (SerializerSelector() as unknown as (e: unknown, o: unknown) => (r: ReturnType<typeof route>) => (doc: unknown) => string)(shared, {});
    const doc = { code: 'SERVICE_UNAVAILABLE', statusCode: 503, message: 'down', secret: 'not declared' };
    for (const schema of [body(['SERVICE_UNAVAILABLE']), { $ref: 'Error#' }]) {
      expect(compile(route(schema))(doc)).toBe(fastify(route(schema))(doc));
    }
    expect(JSON.parse(compile(route(body(['SERVICE_UNAVAILABLE'])))(doc))).toEqual({ code: 'SERVICE_UNAVAILABLE', statusCode: 503 });
  });
});
