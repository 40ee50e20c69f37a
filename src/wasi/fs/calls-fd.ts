import { Errno } from '../errno.js';
import { FDSTAT_BYTES, IOVEC_BYTES, U32_MAX, iovecsTotal } from '../memory.js';
import { handleOf, type WasiFunctions, type WasiState } from '../state.js';
import { writeFilestat, type FileSystem } from './filesystem.js';
import { ALL_FDFLAGS, Fdflags, Filetype, Fstflags, Right, rightsOf, type FsHandle } from './rights.js';
import { nowNs, type Inode } from './tree.js';

/*
 * The fd_* calls on file and directory fds. Each checks, in this order: a directory where a file is
 * needed (EISDIR), the right the call needs (ENOTCAPABLE), pointers and lengths against guest memory
 * (EFAULT), then its arguments. Stdio fds and closed fds go to the stdio versions in ../fd.ts and
 * ../unsupported.ts, which answer as they do in a process without files.
 */

const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);
const Whence = { SET: 0, CUR: 1, END: 2 } as const;
const ADVICE_MAX = 5; // normal, sequential, random, willneed, dontneed, noreuse

/** Sets atim/mtim as fstflags say (a time and its _NOW together is EINVAL); ctim follows any change. */
export function setTimes(node: Inode, atim: bigint, mtim: bigint, flags: number): number {
  if ((flags & ~15) !== 0) return Errno.INVAL;
  if ((flags & Fstflags.ATIM) !== 0 && (flags & Fstflags.ATIM_NOW) !== 0) return Errno.INVAL;
  if ((flags & Fstflags.MTIM) !== 0 && (flags & Fstflags.MTIM_NOW) !== 0) return Errno.INVAL;
  const now = nowNs();
  if ((flags & Fstflags.ATIM) !== 0) node.atim = BigInt.asUintN(64, atim);
  if ((flags & Fstflags.ATIM_NOW) !== 0) node.atim = now;
  if ((flags & Fstflags.MTIM) !== 0) node.mtim = BigInt.asUintN(64, mtim);
  if ((flags & Fstflags.MTIM_NOW) !== 0) node.mtim = now;
  if (flags !== 0) node.ctim = now;
  return Errno.SUCCESS;
}

/** An i64 offset or size the guest passed as unsigned; -1 past what a number holds exactly. */
function u64(value: bigint): number {
  const n = BigInt.asUintN(64, value);
  return n > MAX_OFFSET ? -1 : Number(n);
}

/** The calls that read and write file contents. */
function contentCalls(s: WasiState, fs: FileSystem) {
  const memory = s.memory;
  const tree = fs.tree;

  /** Reads into the iovecs from `pos`; returns the bytes read. */
  function readv(node: Inode, iovs: number, count: number, pos: number): number {
    let total = 0;
    for (let i = 0; i < count; i++) {
      const at = iovs + i * IOVEC_BYTES;
      const len = memory.u32(at + 4);
      const n = tree.read(node, pos + total, memory.u8, memory.u32(at), len);
      total += n;
      if (n < len) break;
    }
    return total;
  }

  /** Writes the iovecs at `pos`, all or nothing. */
  function writev(node: Inode, iovs: number, count: number, pos: number, total: number): number {
    const grown = tree.ensure(node, pos + total);
    if (grown !== Errno.SUCCESS) return grown;
    let at = pos;
    for (let i = 0; i < count; i++) {
      const iov = iovs + i * IOVEC_BYTES;
      const len = memory.u32(iov + 4);
      tree.write(node, at, memory.u8, memory.u32(iov), len);
      at += len;
    }
    return Errno.SUCCESS;
  }

  function read(h: FsHandle, iovs: number, count: number, at: bigint | null, nreadPtr: number): number {
    if (h.dir) return Errno.ISDIR;
    if ((h.base & Right.FD_READ) === 0) return Errno.NOTCAPABLE;
    memory.refresh();
    iovs >>>= 0;
    count >>>= 0;
    nreadPtr >>>= 0;
    if (iovecsTotal(memory, iovs, count) < 0 || !memory.fits(nreadPtr, 4)) return Errno.FAULT;
    const offset = at === null ? h.pos : u64(at);
    const n = offset < 0 ? 0 : readv(tree.node(h.ino), iovs, count, offset);
    if (at === null) h.pos += n;
    memory.setU32(nreadPtr, n);
    return Errno.SUCCESS;
  }

  function write(h: FsHandle, iovs: number, count: number, at: bigint | null, nwrittenPtr: number): number {
    if (h.dir) return Errno.ISDIR;
    if ((h.base & Right.FD_WRITE) === 0) return Errno.NOTCAPABLE;
    memory.refresh();
    iovs >>>= 0;
    count >>>= 0;
    nwrittenPtr >>>= 0;
    const total = iovecsTotal(memory, iovs, count);
    if (total < 0 || !memory.fits(nwrittenPtr, 4)) return Errno.FAULT;
    if (total > U32_MAX) return Errno.INVAL;
    const node = tree.node(h.ino);
    // pwrite writes where it is told even on an append fd (POSIX; Linux would append).
    const offset = at !== null ? u64(at) : (h.flags & Fdflags.APPEND) !== 0 ? node.size : h.pos;
    if (offset < 0) return Errno.FBIG;
    const written = writev(node, iovs, count, offset, total);
    if (written !== Errno.SUCCESS) return written;
    if (at === null) h.pos = offset + total;
    memory.setU32(nwrittenPtr, total);
    return Errno.SUCCESS;
  }

  return {
    fd_read: (h: FsHandle, iovs: number, count: number, ptr: number): number => read(h, iovs, count, null, ptr),
    fd_pread: (h: FsHandle, iovs: number, count: number, at: bigint, ptr: number): number => read(h, iovs, count, at, ptr),
    fd_write: (h: FsHandle, iovs: number, count: number, ptr: number): number => write(h, iovs, count, null, ptr),
    fd_pwrite: (h: FsHandle, iovs: number, count: number, at: bigint, ptr: number): number => write(h, iovs, count, at, ptr),

    fd_seek(h: FsHandle, offset: bigint, whence: number, ptr: number): number {
      if (h.dir) return Errno.ISDIR;
      const tellOnly = offset === 0n && whence === Whence.CUR;
      if ((h.base & (tellOnly ? Right.FD_TELL | Right.FD_SEEK : Right.FD_SEEK)) === 0) return Errno.NOTCAPABLE;
      memory.refresh();
      ptr >>>= 0;
      if (!memory.fits(ptr, 8)) return Errno.FAULT;
      if (whence !== Whence.SET && whence !== Whence.CUR && whence !== Whence.END) return Errno.INVAL;
      const from = whence === Whence.SET ? 0 : whence === Whence.CUR ? h.pos : tree.node(h.ino).size;
      const next = BigInt(from) + BigInt.asIntN(64, offset);
      if (next < 0n || next > MAX_OFFSET) return Errno.INVAL;
      h.pos = Number(next);
      memory.setU64(ptr, h.pos);
      return Errno.SUCCESS;
    },

    fd_tell(h: FsHandle, ptr: number): number {
      if (h.dir) return Errno.ISDIR;
      if ((h.base & (Right.FD_TELL | Right.FD_SEEK)) === 0) return Errno.NOTCAPABLE;
      memory.refresh();
      ptr >>>= 0;
      if (!memory.fits(ptr, 8)) return Errno.FAULT;
      memory.setU64(ptr, h.pos);
      return Errno.SUCCESS;
    },

    fd_filestat_set_size(h: FsHandle, size: bigint): number {
      if (h.dir) return Errno.ISDIR;
      if ((h.base & Right.FD_FILESTAT_SET_SIZE) === 0) return Errno.NOTCAPABLE;
      const n = u64(size);
      return n < 0 ? Errno.FBIG : tree.resize(tree.node(h.ino), n);
    },

    fd_allocate(h: FsHandle, offset: bigint, len: bigint): number {
      if (h.dir) return Errno.ISDIR;
      if ((h.base & Right.FD_ALLOCATE) === 0) return Errno.NOTCAPABLE;
      const end = u64(BigInt.asUintN(64, offset) + BigInt.asUintN(64, len));
      if (end < 0) return Errno.FBIG;
      const node = tree.node(h.ino);
      return end > node.size ? tree.resize(node, end) : Errno.SUCCESS;
    },

    fd_advise(h: FsHandle, _offset: bigint, _len: bigint, advice: number): number {
      if ((h.base & Right.FD_ADVISE) === 0) return Errno.NOTCAPABLE;
      return advice >>> 0 > ADVICE_MAX ? Errno.INVAL : Errno.SUCCESS;
    },
  };
}

/** The calls on any file or directory fd: stat, flags, rights, sync and the preopen probes. */
function handleCalls(s: WasiState, fs: FileSystem) {
  const memory = s.memory;
  const tree = fs.tree;
  const prestatName = (h: FsHandle): Uint8Array | null => (h.preopen === null ? null : new TextEncoder().encode(h.preopen));

  return {
    fd_fdstat_get(h: FsHandle, ptr: number): number {
      memory.refresh();
      ptr >>>= 0;
      if (!memory.fits(ptr, FDSTAT_BYTES)) return Errno.FAULT;
      memory.u8.fill(0, ptr, ptr + FDSTAT_BYTES);
      memory.u8[ptr] = h.dir ? Filetype.DIRECTORY : Filetype.REGULAR_FILE;
      memory.view.setUint16(ptr + 2, h.flags, true);
      memory.setU64(ptr + 8, h.base);
      memory.setU64(ptr + 16, h.inheriting);
      return Errno.SUCCESS;
    },

    fd_fdstat_set_flags(h: FsHandle, flags: number): number {
      if ((h.base & Right.FD_FDSTAT_SET_FLAGS) === 0) return Errno.NOTCAPABLE;
      if ((flags & ~ALL_FDFLAGS) !== 0) return Errno.INVAL;
      h.flags = flags;
      return Errno.SUCCESS;
    },

    /** Rights can only be dropped: asking for one the fd lacks is ENOTCAPABLE. */
    fd_fdstat_set_rights(h: FsHandle, base: bigint, inheriting: bigint): number {
      const b = rightsOf(base);
      const i = rightsOf(inheriting);
      if (b < 0 || i < 0 || (b & ~h.base) !== 0 || (i & ~h.inheriting) !== 0) return Errno.NOTCAPABLE;
      h.base = b;
      h.inheriting = i;
      return Errno.SUCCESS;
    },

    fd_filestat_get(h: FsHandle, ptr: number): number {
      if ((h.base & Right.FD_FILESTAT_GET) === 0) return Errno.NOTCAPABLE;
      memory.refresh();
      return writeFilestat(memory, ptr, tree.node(h.ino));
    },

    fd_filestat_set_times(h: FsHandle, atim: bigint, mtim: bigint, flags: number): number {
      if ((h.base & Right.FD_FILESTAT_SET_TIMES) === 0) return Errno.NOTCAPABLE;
      return setTimes(tree.node(h.ino), atim, mtim, flags);
    },

    // Nothing is ever on a disk: syncing has nothing to wait for.
    fd_sync: (h: FsHandle): number => ((h.base & Right.FD_SYNC) === 0 ? Errno.NOTCAPABLE : Errno.SUCCESS),
    fd_datasync: (h: FsHandle): number => ((h.base & (Right.FD_DATASYNC | Right.FD_SYNC)) === 0 ? Errno.NOTCAPABLE : Errno.SUCCESS),

    /*   prestat (8 bytes): tag u8 @0 (0: a directory), pr_name_len u32 @4 */
    fd_prestat_get(h: FsHandle, ptr: number): number {
      const name = prestatName(h);
      if (name === null) return Errno.BADF;
      memory.refresh();
      ptr >>>= 0;
      if (!memory.fits(ptr, 8)) return Errno.FAULT;
      memory.u8.fill(0, ptr, ptr + 8);
      memory.setU32(ptr + 4, name.length);
      return Errno.SUCCESS;
    },

    fd_prestat_dir_name(h: FsHandle, ptr: number, len: number): number {
      const name = prestatName(h);
      if (name === null) return Errno.BADF;
      memory.refresh();
      ptr >>>= 0;
      len >>>= 0;
      if (len < name.length) return Errno.NAMETOOLONG;
      if (!memory.fits(ptr, name.length)) return Errno.FAULT;
      memory.u8.set(name, ptr);
      return Errno.SUCCESS;
    },
  };
}

type HandleCall = (h: FsHandle, ...args: never[]) => number;

/**
 * Every fd_* call that has an answer for files and directories, as the import object's functions:
 * a file or directory fd goes to the call here, any other fd to `stdio[name]`.
 */
export function fdCalls(s: WasiState, fs: FileSystem, stdio: WasiFunctions): WasiFunctions {
  const calls: Record<string, HandleCall> = { ...contentCalls(s, fs), ...handleCalls(s, fs) };
  const out: WasiFunctions = {};
  for (const [name, call] of Object.entries(calls)) {
    const fallback = stdio[name] as (fd: number, ...args: never[]) => number;
    out[name] = (fd: number, ...args: never[]): number => {
      const h = handleOf(s, fd);
      return h === undefined ? fallback(fd, ...args) : call(h, ...args);
    };
  }
  return out;
}
