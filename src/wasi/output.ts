import { copyBytes } from './memory.js';

const FIRST_CHUNK = 4096;
const NO_BYTES = new Uint8Array(0);

/**
 * One captured output stream (stdout or stderr), keeping at most `cap` bytes. Writes past the cap are
 * dropped and flagged, and the guest is told they were written so it does not retry. The buffer starts
 * small and doubles, so a program that prints one line does not cost a whole cap's worth of memory.
 */
export class OutputSink {
  private buffer: Uint8Array;
  private length = 0;
  truncated = false;

  constructor(private readonly cap: number) {
    // Nothing until the first write: most programs leave stderr empty, and every process makes two sinks.
    this.buffer = NO_BYTES;
  }

  /** Appends `src[at, at + n)`, keeping what fits under the cap. */
  write(src: Uint8Array, at: number, n: number): void {
    const room = this.cap - this.length;
    let keep = n;
    if (keep > room) {
      keep = room;
      this.truncated = true;
    }
    if (keep === 0) return;
    const end = this.length + keep;
    if (end > this.buffer.length) this.grow(end);
    copyBytes(this.buffer, this.length, src, at, keep);
    this.length = end;
  }

  /** Bytes the sink still takes before truncating. */
  get room(): number {
    return this.cap - this.length;
  }

  /** The kept bytes in a buffer of their own (what crosses the worker boundary is only what was written). */
  bytes(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  private grow(atLeast: number): void {
    let size = Math.max(this.buffer.length * 2, FIRST_CHUNK);
    while (size < atLeast) size *= 2;
    const next = new Uint8Array(Math.min(size, this.cap));
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }
}
