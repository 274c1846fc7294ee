import { describe, expect, it } from 'vitest';
import { wantsPrettyLogs } from '../src/index.ts';

describe('wantsPrettyLogs', () => {
  it('readable lines only for a person at a terminal in development', () => {
    expect(wantsPrettyLogs({}, { isTTY: true })).toBe(true);
    expect(wantsPrettyLogs({ NODE_ENV: 'development' }, { isTTY: true })).toBe(true);
  });

  it('JSON for production, tests, pipes and files', () => {
    expect(wantsPrettyLogs({ NODE_ENV: 'production' }, { isTTY: true })).toBe(false);
    expect(wantsPrettyLogs({ NODE_ENV: 'test' }, { isTTY: true })).toBe(false);
    expect(wantsPrettyLogs({}, { isTTY: false })).toBe(false);
    expect(wantsPrettyLogs({}, {})).toBe(false);
  });
});
