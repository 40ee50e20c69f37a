import { encodeULeb128 } from './byte-reader.js';

/**
 * Output built from many pieces (views into the input and small inserted snippets), copied once at
 * the end: rewriting a module never re-copies what it already wrote.
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

/** Encodes a non-negative integer below 2^53 as signed LEB128 (an i64.const immediate). */
export function encodePositiveSLeb128(value: number): number[] {
  const out = encodeULeb128(value);
  const last = out.length - 1;
  // Signed LEB reads bit 6 of the last byte as the sign: a set bit needs one more (zero) byte.
  if (((out[last] ?? 0) & 0x40) !== 0) {
    out[last] = (out[last] ?? 0) | 0x80;
    out.push(0);
  }
  return out;
}
