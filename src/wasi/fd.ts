import { FDSTAT_BYTES, FILESTAT_BYTES, IOVEC_BYTES, U32_MAX, copyBytes, iovecsTotal } from './memory.js';
import { Errno, FILETYPE_CHARACTER_DEVICE, Rights } from './errno.js';
import { Stream, entryOf, streamOf, type FdEntry, type WasiFunctions, type WasiState } from './state.js';

/*
 * The three stdio fds: 0 reads the stdin buffer, 1 and 2 write to capped sinks. All three are
 * character devices (so isatty() is true and stdout is line-buffered, as on a terminal) and none
 * seeks. Without files there are no other fds and no preopened directories; with files, fs/calls-*.ts
 * answer for the file and directory fds and hand stdio fds on to these.
 */


const COMMON_RIGHTS = Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE;
const STDIN_RIGHTS = Rights.FD_READ | COMMON_RIGHTS;
const OUTPUT_RIGHTS = Rights.FD_WRITE | COMMON_RIGHTS;

/** fd_write, fd_read, fd_close, fd_renumber, the stat and flag calls, seek/tell and the preopen probes. */
export function fdFunctions(s: WasiState): WasiFunctions {
  const memory = s.memory;
  const open = (fd: number): boolean => streamOf(s, fd) !== Stream.CLOSED;
  const release = (entry: FdEntry | undefined): void => {
    if (typeof entry === 'object') s.fs?.close(entry);
  };

  return {
    fd_write(fd: number, iovs: number, count: number, nwrittenPtr: number): number {
      const stream = streamOf(s, fd);
      const sink = stream === Stream.STDOUT ? s.stdout : stream === Stream.STDERR ? s.stderr : null;
      if (sink === null) return Errno.BADF;
      memory.refresh();
      iovs >>>= 0;
      count >>>= 0;
      nwrittenPtr >>>= 0;
      const total = iovecsTotal(memory, iovs, count);
      if (total < 0 || !memory.fits(nwrittenPtr, 4)) return Errno.FAULT;
      if (total > U32_MAX) return Errno.INVAL;
      for (let i = 0; i < count; i++) {
        const at = iovs + i * IOVEC_BYTES;
        sink.write(memory.u8, memory.u32(at), memory.u32(at + 4));
      }
      // Bytes dropped at the cap count as written: the program goes on as if its output were kept.
      memory.setU32(nwrittenPtr, total);
      return Errno.SUCCESS;
    },

    fd_read(fd: number, iovs: number, count: number, nreadPtr: number): number {
      if (streamOf(s, fd) !== Stream.STDIN) return Errno.BADF;
      memory.refresh();
      iovs >>>= 0;
      count >>>= 0;
      nreadPtr >>>= 0;
      if (iovecsTotal(memory, iovs, count) < 0 || !memory.fits(nreadPtr, 4)) return Errno.FAULT;
      let nread = 0;
      for (let i = 0; i < count && s.stdinAt < s.stdin.length; i++) {
        const at = iovs + i * IOVEC_BYTES;
        const n = Math.min(memory.u32(at + 4), s.stdin.length - s.stdinAt);
        copyBytes(memory.u8, memory.u32(at), s.stdin, s.stdinAt, n);
        s.stdinAt += n;
        nread += n;
      }
      memory.setU32(nreadPtr, nread);
      return Errno.SUCCESS;
    },

    // Closing and renumbering work on any fd, stdio, file or directory alike (the preopen included).
    fd_close(fd: number): number {
      const entry = entryOf(s, fd);
      if (entry === undefined) return Errno.BADF;
      release(entry);
      s.fds[fd >>> 0] = undefined;
      return Errno.SUCCESS;
    },

    /** Moves `from` onto `to` (which must be open, as in preview1), closing what `to` was. */
    fd_renumber(from: number, to: number): number {
      const entry = entryOf(s, from);
      if (entry === undefined || entryOf(s, to) === undefined) return Errno.BADF;
      if (from >>> 0 === to >>> 0) return Errno.SUCCESS;
      release(entryOf(s, to));
      s.fds[to >>> 0] = entry;
      s.fds[from >>> 0] = undefined;
      return Errno.SUCCESS;
    },

    fd_fdstat_get(fd: number, ptr: number): number {
      const stream = streamOf(s, fd);
      if (stream === Stream.CLOSED) return Errno.BADF;
      memory.refresh();
      ptr >>>= 0;
      if (!memory.fits(ptr, FDSTAT_BYTES)) return Errno.FAULT;
      memory.u8.fill(0, ptr, ptr + FDSTAT_BYTES);
      memory.u8[ptr] = FILETYPE_CHARACTER_DEVICE;
      memory.setBigU64(ptr + 8, stream === Stream.STDIN ? STDIN_RIGHTS : OUTPUT_RIGHTS);
      return Errno.SUCCESS;
    },

    fd_filestat_get(fd: number, ptr: number): number {
      if (!open(fd)) return Errno.BADF;
      memory.refresh();
      ptr >>>= 0;
      if (!memory.fits(ptr, FILESTAT_BYTES)) return Errno.FAULT;
      memory.u8.fill(0, ptr, ptr + FILESTAT_BYTES);
      memory.u8[ptr + 16] = FILETYPE_CHARACTER_DEVICE;
      memory.u8[ptr + 24] = 1; // nlink
      return Errno.SUCCESS;
    },

    // Flags (append, nonblock, ...) change nothing for in-memory streams; rights can only be narrowed,
    // and these fds hold none worth guarding.
    fd_fdstat_set_flags: (fd: number): number => (open(fd) ? Errno.SUCCESS : Errno.BADF),
    fd_fdstat_set_rights: (fd: number): number => (open(fd) ? Errno.SUCCESS : Errno.BADF),

    // A character device has no position.
    fd_seek: (fd: number): number => (open(fd) ? Errno.SPIPE : Errno.BADF),
    fd_tell: (fd: number): number => (open(fd) ? Errno.SPIPE : Errno.BADF),

    // EBADF ends wasi-libc's scan for preopened directories at fd 3: there are none.
    fd_prestat_get: (): number => Errno.BADF,
    fd_prestat_dir_name: (): number => Errno.BADF,
  };
}
