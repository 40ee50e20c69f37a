import { encodeULeb128 } from './byte-reader.js';

/**
 * Output built from a few large pieces (views into the input, rewritten sections), copied once at
 * the end: assembling a module never re-copies what it already holds.
 */
export class Chunks {
  private readonly pieces: Uint8Array[] = [];
  length = 0;

  push(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.pieces.push(piece);
    this.length += piece.length;
  }

  /** Appends every piece of `other` (which is not copied). */
  append(other: Chunks): void {
    for (const piece of other.pieces) this.push(piece);
  }

  /** Appends `value` as unsigned LEB128. */
  uleb(value: number): void {
    this.push(Uint8Array.from(encodeULeb128(value)));
  }

  /** Appends a section: `id`, its size as LEB128, then `content`. */
  section(id: number, content: Chunks): void {
    this.push(Uint8Array.of(id));
    this.uleb(content.length);
    this.append(content);
  }

  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const piece of this.pieces) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }
}

/**
 * A growing buffer for output written in many small pieces (instrumented function bodies): one
 * allocation per doubling instead of one per piece.
 */
export class ByteWriter {
  private buffer: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.buffer = new Uint8Array(Math.max(64, capacity));
  }

  /** Appends `source[from, to)`. */
  copy(source: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.reserve(n);
    const { buffer, length } = this;
    // A loop for short pieces: set() needs a subarray view, which costs as much as copying ~128 bytes.
    if (n > 256) buffer.set(source.subarray(from, to), length);
    else for (let i = 0; i < n; i++) buffer[length + i] = source[from + i] ?? 0;
    this.length = length + n;
  }

  bytes(source: Uint8Array): void {
    this.copy(source, 0, source.length);
  }

  /** Appends a non-negative integer below 2^53 as unsigned LEB128. */
  uleb(value: number): void {
    this.reserve(8);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
  }

  /** Appends a non-negative integer below 2^53 as signed LEB128 (an i64.const immediate). */
  positiveSleb(value: number): void {
    this.reserve(8);
    let rest = value;
    // Signed LEB reads bit 6 of the last byte as the sign, so a value stops only below 0x40.
    while (rest >= 0x40) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
  }

  /** What was written (a view, valid until the next write). */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + n));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }
}

/** Bytes of `value` (a non-negative integer below 2^53) as signed LEB128. */
export function positiveSlebLength(value: number): number {
  let n = 1;
  for (let rest = value; rest >= 0x40; rest = Math.floor(rest / 0x80)) n++;
  return n;
}
