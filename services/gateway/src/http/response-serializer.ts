import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

type SerializerFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer']>;
type Serializer = (doc: unknown) => string;
// What Fastify calls a compiler with (the route's response schema for one status).
type RouteSerializerCompiler = (route: { schema: unknown; method: string; url: string; httpStatus: string }) => Serializer;

const fastifyDefault = SerializerSelector() as unknown as (externalSchemas: unknown, options: unknown) => RouteSerializerCompiler;

/**
 * Fastify's response serializers (fast-json-stringify), compiled once per distinct schema instead
 * of once per route and status: every route declares the same error answers (errorResponses), so
 * a start compiled about 200 serializers of which 51 differ, a third of the gateway's build time.
 * A serializer depends on nothing but its schema and the app's shared schemas and options, which
 * are the same for every route of one compiler.
 */
function buildSharedSerializers(externalSchemas: unknown, options: unknown): RouteSerializerCompiler {
  const compile = fastifyDefault(externalSchemas, options);
  const compiled = new Map<string, Serializer>();
  return (route) => {
    const key = JSON.stringify(route.schema);
    let serializer = compiled.get(key);
    if (!serializer) {
      serializer = compile(route);
      compiled.set(key, serializer);
    }
    return serializer;
  };
}

export const buildSerializer = buildSharedSerializers as unknown as SerializerFactory;
