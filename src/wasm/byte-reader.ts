import { wessError, type WessError } from '../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The one error every malformed-binary path throws: what went wrong and at which byte. */
export function malformed(message: string, offset: number): WessError {
  return wessError('INVALID_WASM', `${message} at byte offset ${offset}`, { offset });
}

/**
 * A cursor over a byte range `[pos, end)` that throws INVALID_WASM instead of reading past `end`.
 * LEB128 readers follow the spec's encoding rules: at most ceil(N/7) bytes for an N-bit integer,
 * and the unused high bits of the last byte must be zero (so over-long or overflowing encodings fail).
 */
export class ByteReader {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start: number,
    public end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  u8(what: string): number {
    const byte = this.bytes[this.pos];
    if (this.pos >= this.end || byte === undefined) throw malformed(`unexpected end while reading ${what}`, this.pos);
    this.pos++;
    return byte;
  }

  /** Unsigned LEB128 of at most 32 bits. */
  u32(what: string): number {
    const first = this.bytes[this.pos];
    if (first !== undefined && first < 0x80 && this.pos < this.end) {
      this.pos++; // one-byte values are most of them
      return first;
    }
    return this.u32Long(what); // apart, so that the engine can inline the short path above
  }

  private u32Long(what: string): number {
    const start = this.pos;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.u8(what);
      if (shift === 28 && (byte & 0xf0) !== 0) throw malformed(`${what}: LEB128 integer too large or too long`, start);
      result |= (byte & 0x7f) << shift; // 32-bit integer arithmetic; read back unsigned below
      if ((byte & 0x80) === 0) return result >>> 0;
    }
    throw malformed(`${what}: LEB128 integer too long`, start);
  }

  /** Unsigned LEB128 of at most 64 bits, as a number (exact up to 2^53; page counts never get near). */
  u64(what: string): number {
    const start = this.pos;
    let result = 0;
    for (let i = 0; i < 10; i++) {
      const byte = this.u8(what);
      if (i === 9 && (byte & 0xfe) !== 0) throw malformed(`${what}: LEB128 integer too large or too long`, start);
      result += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return result;
    }
    throw malformed(`${what}: LEB128 integer too long`, start);
  }

  /** Skips `n` bytes, failing when fewer remain. */
  skip(n: number, what: string): void {
    if (n > this.end - this.pos) throw malformed(`${what} (${n} bytes) runs past the end`, this.pos);
    this.pos += n;
  }

  /** A length-prefixed UTF-8 name. */
  name(what: string): string {
    const length = this.u32(`${what} length`);
    const start = this.pos;
    this.skip(length, what);
    // Names are almost always short ASCII; TextDecoder costs more than the bytes do.
    if (length <= 64) {
      let ascii = '';
      for (let i = start; i < start + length; i++) {
        const byte = this.bytes[i] ?? 0x80;
        if (byte >= 0x80) break;
        ascii += String.fromCharCode(byte);
      }
      if (ascii.length === length) return ascii;
    }
    try {
      return utf8.decode(this.bytes.subarray(start, start + length));
    } catch {
      throw malformed(`${what} is not valid UTF-8`, start);
    }
  }
}

/** Encodes `value` (a non-negative integer below 2^53) as unsigned LEB128. */
export function encodeULeb128(value: number): number[] {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot LEB128-encode ${value}`);
  const out: number[] = [];
  let rest = value;
  do {
    const low = rest % 128;
    rest = Math.floor(rest / 128);
    out.push(rest > 0 ? low | 0x80 : low);
  } while (rest > 0);
  return out;
}
