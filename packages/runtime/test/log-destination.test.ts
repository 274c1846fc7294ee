// The services' stdout logger (createLogger): lines batched per event-loop turn must come out
// whole and in order, however the process ends.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const loggerModule = fileURLToPath(new URL('../src/logger.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'log-destination-'));

/** Runs a script with a service logger `log` in scope; answers its stdout and exit code. */
function runWithLogger(body: string): Promise<{ lines: Array<Record<string, unknown>>; code: number | null; stderr: string }> {
  // .mts: an ES module wherever the temporary directory is (top-level await).
  const file = join(dir, `${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(file, `import { createLogger } from ${JSON.stringify(loggerModule)};\nconst log = createLogger('test', 'info');\n${body}\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Decoded at the end: a chunk may end inside a character.
  const out: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'close': the process has exited and its stdout is read to the end.
    child.once('close', (code) => resolve({ lines: Buffer.concat(out).toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), code, stderr }));
  });
}

const SPAWN_TIMEOUT_MS = 60_000;
const numbers = (lines: Array<Record<string, unknown>>) => lines.map((l) => l.n);
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('createLogger', () => {
  it('writes every line once, in order, when lines of many turns pile up behind a write', async () => {
    const { lines, code, stderr } = await runWithLogger(`
      for (let turn = 0; turn < 50; turn++) {
        for (let i = 0; i < 100; i++) log.info({ n: turn * 100 + i }, 'line');
        await new Promise((r) => setImmediate(r));
      }`);
    expect(code, stderr).toBe(0);
    expect(numbers(lines)).toEqual(upTo(5000));
  }, SPAWN_TIMEOUT_MS);

  it('writes lines larger than its buffer and characters of any width whole', async () => {
    const { lines, code, stderr } = await runWithLogger(`
      const big = 'x'.repeat(200 * 1024);
      for (let turn = 0; turn < 5; turn++) {
        log.info({ n: 2 * turn, text: 'é✓😀'.repeat(20_000) }, 'wide');
        log.info({ n: 2 * turn + 1, text: big }, 'big');
        await new Promise((r) => setImmediate(r));
      }`);
    expect(code, stderr).toBe(0);
    expect(numbers(lines)).toEqual(upTo(10));
    expect(lines.filter((l) => l.msg === 'wide').every((l) => l.text === 'é✓😀'.repeat(20_000))).toBe(true);
    expect(lines.filter((l) => l.msg === 'big').every((l) => (l.text as string).length === 200 * 1024)).toBe(true);
  }, SPAWN_TIMEOUT_MS);

  it('calls back from flush once the lines logged before are written', async () => {
    const { lines, code, stderr } = await runWithLogger(`
      for (let i = 0; i < 1000; i++) log.info({ n: i }, 'line');
      await new Promise((resolve) => log.flush(resolve));
      // Written by now: a write straight to fd 1 comes after them.
      (await import('node:fs')).writeSync(1, JSON.stringify({ n: 1000 }) + '\\n');
      await new Promise((r) => setTimeout(r, 50));`);
    expect(code, stderr).toBe(0);
    expect(numbers(lines)).toEqual(upTo(1001));
  }, SPAWN_TIMEOUT_MS);

  it('keeps the lines of the last turn when the process exits in it (process.exit)', async () => {
    const { lines, code } = await runWithLogger(`for (let i = 0; i < 300; i++) log.info({ n: i }, 'line');\nprocess.exit(3);`);
    expect(code).toBe(3);
    expect(numbers(lines)).toEqual(upTo(300));
  }, SPAWN_TIMEOUT_MS);

  it('keeps them when an uncaught exception ends the process', async () => {
    const { lines, code } = await runWithLogger(`for (let i = 0; i < 300; i++) log.info({ n: i }, 'line');\nthrow new Error('boom');`);
    expect(code).toBe(1);
    expect(numbers(lines)).toEqual(upTo(300));
  }, SPAWN_TIMEOUT_MS);
});
