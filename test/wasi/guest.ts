import { WASI_MODULE, type WasiFiles } from '../../src/wasi/types.js';
import { processFor } from './helpers.js';

/** preview-1 numbers the filesystem tests use. */
export const OFLAGS = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;
export const RIGHTS = { FD_READ: 1n << 1n, FD_WRITE: 1n << 6n, ALL: (1n << 30n) - 1n } as const;
export const LOOKUP_FOLLOW = 1;

type Call = (...args: (number | bigint)[]) => number;

const STRINGS = 1024; // where path arguments are written
const DATA = 8192; // where buffers are read and written
const OUT = 64; // where results (fds, counts) land

/**
 * The WASI functions of one process called straight from JS, on a memory of its own: what a guest
 * would do, one call at a time, without compiling a program for each case.
 */
export class Guest {
  readonly memory = new WebAssembly.Memory({ initial: 2 });
  private readonly fns: Record<string, Call>;

  constructor(files?: WasiFiles, maxScratchBytes?: number) {
    const proc = processFor('guest', { ...(files === undefined ? {} : { files }), ...(maxScratchBytes === undefined ? {} : { maxScratchBytes }) });
    proc.bind(this.memory);
    this.fns = proc.imports()[WASI_MODULE] as Record<string, Call>;
  }

  get u8(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  call(name: string, ...args: (number | bigint)[]): number {
    const fn = this.fns[name];
    if (fn === undefined) throw new Error(`no WASI function ${name}`);
    return fn(...args);
  }

  /** Writes `text` where path arguments go; returns [ptr, len]. */
  string(text: string, at = STRINGS): [number, number] {
    const bytes = new TextEncoder().encode(text);
    this.u8.set(bytes, at);
    return [at, bytes.length];
  }

  u32(at = OUT): number {
    return new DataView(this.memory.buffer).getUint32(at, true);
  }

  u64(at: number): bigint {
    return new DataView(this.memory.buffer).getBigUint64(at, true);
  }

  /** path_open from `dir`; returns [errno, fd]. */
  open(path: string, oflags = 0, rights = RIGHTS.ALL, dir = 3, lookup = LOOKUP_FOLLOW): [number, number] {
    const errno = this.call('path_open', dir, lookup, ...this.string(path), oflags, rights, RIGHTS.ALL, 0, OUT);
    return [errno, this.u32()];
  }

  /** fd_write (or fd_pwrite at `offset`) of `bytes` in one iovec; returns [errno, written]. */
  write(fd: number, bytes: Uint8Array, offset?: bigint): [number, number] {
    this.u8.set(bytes, DATA);
    const view = new DataView(this.memory.buffer);
    view.setUint32(OUT + 8, DATA, true);
    view.setUint32(OUT + 12, bytes.length, true);
    const errno = offset === undefined ? this.call('fd_write', fd, OUT + 8, 1, OUT) : this.call('fd_pwrite', fd, OUT + 8, 1, offset, OUT);
    return [errno, this.u32()];
  }

  /** fd_pread of up to `n` bytes at `offset`; returns the bytes (throws on an errno). */
  pread(fd: number, n: number, offset = 0n): Uint8Array {
    const view = new DataView(this.memory.buffer);
    view.setUint32(OUT + 8, DATA, true);
    view.setUint32(OUT + 12, n, true);
    const errno = this.call('fd_pread', fd, OUT + 8, 1, offset, OUT);
    if (errno !== 0) throw new Error(`fd_pread: errno ${errno}`);
    return this.u8.slice(DATA, DATA + this.u32());
  }

  /** A file's content by path, read through a fresh fd; throws on an errno. */
  readFile(path: string): string {
    const [errno, fd] = this.open(path, 0, RIGHTS.FD_READ);
    if (errno !== 0) throw new Error(`path_open ${path}: errno ${errno}`);
    const text = new TextDecoder().decode(this.pread(fd, 4096));
    this.call('fd_close', fd);
    return text;
  }

  /** path_filestat_get's size, or the errno as a negative number. */
  sizeOf(path: string, dir = 3): number | bigint {
    const errno = this.call('path_filestat_get', dir, LOOKUP_FOLLOW, ...this.string(path), DATA);
    return errno === 0 ? this.u64(DATA + 32) : -errno;
  }
}
