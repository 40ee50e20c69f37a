import { wessError } from '../errors.js';

/**
 * The guest's linear memory as the shim sees it. `memory.grow` detaches the old ArrayBuffer, so every
 * WASI call starts with `refresh()`, which re-creates the views only when the buffer changed (one
 * identity check in the common case). Pointers and lengths arrive as signed i32 and are taken as u32.
 */
export class GuestMemory {
  private memory: WebAssembly.Memory | null = null;
  private buffer: ArrayBuffer | null = null;
  u8 = new Uint8Array(0);
  view = new DataView(new ArrayBuffer(0));

  bind(memory: WebAssembly.Memory): void {
    this.memory = memory;
    this.buffer = null;
    this.refresh();
  }

  /** Brings `u8` and `view` up to date; throws when no memory was bound (a WASI call from a start function). */
  refresh(): void {
    if (this.memory === null) {
      throw wessError('WASM_TRAP', 'the module called a WASI function before its memory could be bound (from its start function)');
    }
    const buffer = this.memory.buffer;
    if (buffer !== this.buffer) {
      this.buffer = buffer;
      this.u8 = new Uint8Array(buffer);
      this.view = new DataView(buffer);
    }
  }

  /** True when `[ptr, ptr + len)` lies inside memory (`ptr`, `len` already unsigned). */
  fits(ptr: number, len: number): boolean {
    return ptr + len <= this.u8.length;
  }

  u32(ptr: number): number {
    return this.view.getUint32(ptr, true);
  }

  setU32(ptr: number, value: number): void {
    this.view.setUint32(ptr, value, true);
  }

  /** Writes an unsigned 64-bit value given as a number (exact below 2^53), without making a bigint. */
  setU64(ptr: number, value: number): void {
    this.view.setUint32(ptr, value % 0x1_0000_0000, true);
    this.view.setUint32(ptr + 4, Math.floor(value / 0x1_0000_0000), true);
  }

  setBigU64(ptr: number, value: bigint): void {
    this.view.setBigUint64(ptr, value, true);
  }
}

/** Copies `n` bytes; a loop beats `set(subarray())` for the short writes programs mostly make, and allocates nothing. */
export function copyBytes(dst: Uint8Array, dstAt: number, src: Uint8Array, srcAt: number, n: number): void {
  if (n > 64) {
    dst.set(src.subarray(srcAt, srcAt + n), dstAt);
    return;
  }
  for (let i = 0; i < n; i++) dst[dstAt + i] = src[srcAt + i] as number;
}

/** An iovec/ciovec: `{ buf: u32, buf_len: u32 }`. */
export const IOVEC_BYTES = 8;
/** fdstat: filetype u8 @0, flags u16 @2, rights_base u64 @8, rights_inheriting u64 @16. */
export const FDSTAT_BYTES = 24;
/** filestat: dev @0, ino @8, filetype u8 @16, nlink @24, size @32, atim @40, mtim @48, ctim @56. */
export const FILESTAT_BYTES = 64;
/** The most a size the guest is told (an i32 result taken unsigned) can be. */
export const U32_MAX = 0xffff_ffff;

/**
 * Checks an iovec array and every buffer it points to; returns their total length, or -1 when any of
 * them lies outside memory (nothing is read or written then). `iovs` and `count` already unsigned.
 */
export function iovecsTotal(memory: GuestMemory, iovs: number, count: number): number {
  if (!memory.fits(iovs, count * IOVEC_BYTES)) return -1;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const at = iovs + i * IOVEC_BYTES;
    const len = memory.u32(at + 4);
    if (!memory.fits(memory.u32(at), len)) return -1;
    total += len;
  }
  return total;
}
