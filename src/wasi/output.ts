import { copyBytes } from './memory.js';

const FIRST_CHUNK = 4096;
const NO_BYTES = new Uint8Array(0);

/**
 * The first bytes a process wrote on stderr, in a SharedArrayBuffer the main thread can read after
 * the worker running the process was terminated (a stopped guest's answer dies with its worker):
 *
 *   [0, 4)   int32: bytes written so far (stored after the bytes themselves)
 *   [4, …)   the bytes, as many as fit; the rest is dropped
 */
export const StderrMirror = {
  /** A mirror keeping up to `bytes` bytes. */
  create(bytes: number): SharedArrayBuffer {
    return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT + bytes);
  },
  /** What the mirror holds now (a copy), and whether the guest wrote more than it keeps. */
  read(mirror: SharedArrayBuffer): { bytes: Uint8Array; truncated: boolean } {
    const length = Atomics.load(new Int32Array(mirror, 0, 1), 0);
    const room = mirror.byteLength - Int32Array.BYTES_PER_ELEMENT;
    return { bytes: new Uint8Array(mirror, Int32Array.BYTES_PER_ELEMENT, Math.min(length, room)).slice(), truncated: length > room };
  },
};

/** Writes into a StderrMirror from the worker side; starts it empty (a re-run call writes it again). */
class MirrorWriter {
  private readonly length: Int32Array;
  private readonly bytes: Uint8Array;
  private written = 0;

  constructor(mirror: SharedArrayBuffer) {
    this.length = new Int32Array(mirror, 0, 1);
    this.bytes = new Uint8Array(mirror, Int32Array.BYTES_PER_ELEMENT);
    Atomics.store(this.length, 0, 0);
  }

  write(src: Uint8Array, at: number, n: number): void {
    const keep = Math.min(n, this.bytes.length - this.written);
    if (keep > 0) copyBytes(this.bytes, this.written, src, at, keep);
    // Past the room only the count grows (up to int32's end), so a reader knows bytes were dropped.
    this.written = Math.min(this.written + n, 0x7fffffff);
    Atomics.store(this.length, 0, this.written);
  }
}

/**
 * One captured output stream (stdout or stderr), keeping at most `cap` bytes. Writes past the cap are
 * dropped and flagged, and the guest is told they were written so it does not retry. The buffer starts
 * small and doubles, so a program that prints one line does not cost a whole cap's worth of memory.
 */
export class OutputSink {
  private buffer: Uint8Array;
  private length = 0;
  private readonly mirror: MirrorWriter | undefined;
  truncated = false;

  constructor(private readonly cap: number, mirror?: SharedArrayBuffer) {
    // Nothing until the first write: most programs leave stderr empty, and every process makes two sinks.
    this.buffer = NO_BYTES;
    this.mirror = mirror === undefined ? undefined : new MirrorWriter(mirror);
  }

  /** Appends `src[at, at + n)`, keeping what fits under the cap. */
  write(src: Uint8Array, at: number, n: number): void {
    this.mirror?.write(src, at, n);
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
