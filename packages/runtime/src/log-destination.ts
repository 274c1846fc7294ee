import { write, writeSync } from 'node:fs';

// What each of the two buffers holds at first; one grows when a turn's lines do not fit.
const INITIAL_BYTES = 64 * 1024;
// A buffer that grew past this (a burst, or stdout not read for a while) is not kept for reuse.
const KEEP_AT_MOST_BYTES = 1024 * 1024;
// stdout that is non-blocking and full (EAGAIN): how long until the write is tried again.
const RETRY_FULL_MS = 10;

/**
 * stdout for pino: each line is encoded into a buffer as it is logged, and what one event-loop
 * turn logged goes out in one write, made on libuv's thread pool (a request never waits for a
 * log write; an unread stdout makes lines pile up in memory, none is dropped). Two buffers take
 * turns: one is written while the next turn's lines fill the other. Replaces sonic-boom, whose
 * string joins, byte counts and per-write conversions cost about 2 µs of every logged line.
 * Lines keep their order; at exit (process.exit, an uncaught exception, the end of the event
 * loop) what is still buffered is written synchronously; a write in flight then, as with
 * sonic-boom, is left to finish on its thread.
 */
export class TurnBatchedStdout {
  private buffer: Buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  private spare: Buffer | undefined = Buffer.allocUnsafe(INITIAL_BYTES);
  private used = 0;
  private writing = false;
  private scheduled = false;
  private broken = false;
  // A write stdout refused as full (EAGAIN), waiting to be tried again: what is left of it.
  private refused: { chunk: Buffer; offset: number; length: number } | undefined;
  private waiting: Array<(err?: Error) => void> = [];
  private readonly sendNow = () => {
    this.scheduled = false;
    this.send();
  };

  constructor(private readonly fd = 1) {
    process.prependListener('exit', () => this.flushSync());
  }

  write(line: string): void {
    if (this.broken) return;
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    const room = line.length * 3;
    if (this.used + room > this.buffer.length) this.grow(room);
    this.used += this.buffer.write(line, this.used);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.sendNow);
    }
  }

  /** pino's logger.flush(cb): calls back once every line logged so far is written. */
  flush(callback?: (err?: Error) => void): void {
    if (callback) this.waiting.push(callback);
    this.send();
  }

  /**
   * Writes what is buffered, synchronously: at exit, and after a fatal line (pino calls it). What
   * stdout refused as full goes first; a write already on the thread pool is left to finish there.
   */
  flushSync(): void {
    const refused = this.refused;
    if (refused) {
      // Taken over from its retry timer, which then finds nothing to do.
      this.refused = undefined;
      this.writing = false;
      if (!writeWholeSync(this.fd, refused.chunk, refused.offset, refused.length)) return;
    }
    if (!this.broken) writeWholeSync(this.fd, this.buffer, 0, this.used);
    this.used = 0;
  }

  private grow(room: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + room));
    this.buffer.copy(bigger, 0, 0, this.used);
    this.buffer = bigger;
  }

  private send(): void {
    if (this.writing) return;
    if (this.used === 0 || this.broken) {
      this.settle();
      return;
    }
    const chunk = this.buffer;
    const length = this.used;
    this.buffer = this.spare && this.spare.length >= INITIAL_BYTES ? this.spare : Buffer.allocUnsafe(INITIAL_BYTES);
    this.spare = undefined;
    this.used = 0;
    this.writing = true;
    this.writeFrom(chunk, 0, length);
  }

  private writeFrom(chunk: Buffer, offset: number, length: number): void {
    write(this.fd, chunk, offset, length - offset, null, (err, written) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          // Not unref'd: lines still to write keep the process alive, as sonic-boom's do.
          this.refused = { chunk, offset, length };
          setTimeout(() => {
            if (this.refused?.chunk !== chunk) return;
            this.refused = undefined;
            this.writeFrom(chunk, offset, length);
          }, RETRY_FULL_MS);
          return;
        }
        // stdout is gone (closed pipe, a full disk): nowhere left to write, so stop trying.
        this.broken = true;
        process.stderr.write(`log lines cannot be written to stdout any more: ${err.message}\n`);
      } else if (offset + written < length) {
        this.writeFrom(chunk, offset + written, length);
        return;
      }
      this.writing = false;
      if (chunk.length <= KEEP_AT_MOST_BYTES) this.spare = chunk;
      this.send();
    });
  }

  private settle(): void {
    if (this.waiting.length === 0) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const callback of waiting) callback();
  }
}

/** false if stdout cannot take it (gone, or full for about a second). */
function writeWholeSync(fd: number, chunk: Buffer, from: number, to: number): boolean {
  let offset = from;
  let busyRetries = 0;
  while (offset < to) {
    try {
      offset += writeSync(fd, chunk, offset, to - offset);
    } catch (err) {
      // A non-blocking stdout that is full: wait a little, a bounded number of times.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++busyRetries > 1_000) return false;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
  return true;
}
