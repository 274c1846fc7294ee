import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { AppError, type ErrorCode } from '@repo/contracts';

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerFor(schema: TSchema): TypeCheck<TSchema> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
}

/**
 * Throws an AppError naming the first offending field: VALIDATION_ERROR for what a caller sent,
 * INTERNAL for a reply that breaks its contract (a bug on the answering side, not the caller's).
 */
export function assertMatches(schema: TSchema, value: unknown, what: string, code: ErrorCode = 'VALIDATION_ERROR'): void {
  const check = checkerFor(schema);
  if (check.Check(value)) return;
  const first = check.Errors(value).First();
  const where = first?.path ? ` at ${first.path}` : '';
  throw new AppError(code, `${what} is not valid${where}: ${first?.message ?? 'unexpected shape'}`);
}
