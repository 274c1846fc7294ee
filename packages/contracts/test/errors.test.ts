import { describe, expect, it } from 'vitest';
import { AppError } from '../src/index.ts';

describe('AppError', () => {
  it('captures no stack for a client error (cheap to refuse), and keeps one for a server error', () => {
    const refused = new AppError('TOKEN_INVALID');
    expect(refused.stack?.split('\n').filter((line) => line.trim().startsWith('at '))).toEqual([]);
    const failed = new AppError('INTERNAL', 'boom');
    expect(failed.stack).toMatch(/\n\s+at /);
    // The process-wide limit is left as it was.
    expect(new Error('x').stack).toMatch(/\n\s+at /);
  });
});
