import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifyServerOptions } from 'fastify';

type ValidatorFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;
type BuildFromPool = ReturnType<typeof AjvCompiler>;
type ExternalSchemas = Parameters<BuildFromPool>[0];
type PoolOptions = { customOptions?: Record<string, unknown>; plugins?: unknown[] };
// What Fastify really calls a compiler with; @fastify/ajv-compiler's typings say otherwise.
type RouteValidatorCompiler = (route: { schema: unknown; httpPart?: string; method: string; url: string }) => unknown;

const fromPool = AjvCompiler() as unknown as (externalSchemas: ExternalSchemas, options: PoolOptions) => RouteValidatorCompiler;

/**
 * Fastify's Ajv, twice: querystrings, params and headers arrive as strings, so they keep the
 * coercing one; a JSON body is taken as sent (`"phone_number": 14155550000` is not a string) and an
 * unknown property is an error, not silently dropped.
 */
function buildStrictBodyValidator(externalSchemas: ExternalSchemas, options?: PoolOptions): RouteValidatorCompiler {
  const base = options ?? {};
  const customOptions = base.customOptions ?? {};
  const coercing = fromPool(externalSchemas, { ...base, customOptions });
  const strict = fromPool(externalSchemas, { ...base, customOptions: { ...customOptions, coerceTypes: false, removeAdditional: false } });
  return (route) => (route.httpPart === 'body' ? strict(route) : coercing(route));
}

export const buildValidator = buildStrictBodyValidator as unknown as ValidatorFactory;
