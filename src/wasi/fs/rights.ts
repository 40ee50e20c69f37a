/*
 * preview-1 rights, flags and the open handle of a file or directory. The witx defines 30 rights,
 * so they fit a 32-bit number and the checks stay plain integer ops (the guest passes them as u64;
 * bits past the known ones are never granted).
 */

/** preview1 `rights`, by bit. */
export const Right = {
  FD_DATASYNC: 1 << 0, FD_READ: 1 << 1, FD_SEEK: 1 << 2, FD_FDSTAT_SET_FLAGS: 1 << 3, FD_SYNC: 1 << 4,
  FD_TELL: 1 << 5, FD_WRITE: 1 << 6, FD_ADVISE: 1 << 7, FD_ALLOCATE: 1 << 8, PATH_CREATE_DIRECTORY: 1 << 9,
  PATH_CREATE_FILE: 1 << 10, PATH_LINK_SOURCE: 1 << 11, PATH_LINK_TARGET: 1 << 12, PATH_OPEN: 1 << 13,
  FD_READDIR: 1 << 14, PATH_READLINK: 1 << 15, PATH_RENAME_SOURCE: 1 << 16, PATH_RENAME_TARGET: 1 << 17,
  PATH_FILESTAT_GET: 1 << 18, PATH_FILESTAT_SET_SIZE: 1 << 19, PATH_FILESTAT_SET_TIMES: 1 << 20,
  FD_FILESTAT_GET: 1 << 21, FD_FILESTAT_SET_SIZE: 1 << 22, FD_FILESTAT_SET_TIMES: 1 << 23, PATH_SYMLINK: 1 << 24,
  PATH_REMOVE_DIRECTORY: 1 << 25, PATH_UNLINK_FILE: 1 << 26, POLL_FD_READWRITE: 1 << 27,
} as const;

/** Every right the witx defines (sockets included, so set_rights keeps what it is given). */
export const ALL_RIGHTS = (1 << 30) - 1;

// The sets uvwasi (Node's own WASI) and the legacy wasmtime give regular files and directories; the
// suite's path_open_preopen checks a preopen has (at least) these.
export const FILE_RIGHTS = Right.FD_DATASYNC | Right.FD_READ | Right.FD_SEEK | Right.FD_FDSTAT_SET_FLAGS
  | Right.FD_SYNC | Right.FD_TELL | Right.FD_WRITE | Right.FD_ADVISE | Right.FD_ALLOCATE | Right.FD_FILESTAT_GET
  | Right.FD_FILESTAT_SET_SIZE | Right.FD_FILESTAT_SET_TIMES | Right.POLL_FD_READWRITE;
export const DIR_RIGHTS = Right.FD_FDSTAT_SET_FLAGS | Right.FD_SYNC | Right.FD_ADVISE | Right.PATH_CREATE_DIRECTORY
  | Right.PATH_CREATE_FILE | Right.PATH_LINK_SOURCE | Right.PATH_LINK_TARGET | Right.PATH_OPEN | Right.FD_READDIR
  | Right.PATH_READLINK | Right.PATH_RENAME_SOURCE | Right.PATH_RENAME_TARGET | Right.PATH_FILESTAT_GET
  | Right.PATH_FILESTAT_SET_SIZE | Right.PATH_FILESTAT_SET_TIMES | Right.FD_FILESTAT_GET | Right.FD_FILESTAT_SET_TIMES
  | Right.PATH_SYMLINK | Right.PATH_REMOVE_DIRECTORY | Right.PATH_UNLINK_FILE | Right.POLL_FD_READWRITE;
export const DIR_INHERITING_RIGHTS = DIR_RIGHTS | FILE_RIGHTS;

/** A guest's u64 rights as the bits this shim knows, or -1 when it asks for any other bit. */
export function rightsOf(value: bigint): number {
  const known = BigInt.asUintN(64, value);
  return known > BigInt(ALL_RIGHTS) ? -1 : Number(known);
}

/** preview1 `oflags`. */
export const Oflags = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;
/** preview1 `fdflags`. */
export const Fdflags = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const;
export const ALL_FDFLAGS = 31;
/** preview1 `lookupflags`. */
export const LOOKUP_SYMLINK_FOLLOW = 1;
/** preview1 `fstflags`. */
export const Fstflags = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 } as const;
/** preview1 `filetype`. */
export const Filetype = { CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4, SYMBOLIC_LINK: 7 } as const;

/** An open file or directory: what the fd table holds for it, besides stdio streams. */
export interface FsHandle {
  readonly ino: number;
  readonly dir: boolean;
  /** The file position (a directory has none). */
  pos: number;
  /** fdflags. */
  flags: number;
  base: number;
  inheriting: number;
  /** The name fd_prestat_dir_name gives, for the preopened `/` (it moves with fd_renumber). */
  readonly preopen: string | null;
}

/** A handle with the rights narrowed to what its kind of file can use. */
export function newHandle(ino: number, dir: boolean, base: number, inheriting: number, flags: number, preopen: string | null = null): FsHandle {
  return { ino, dir, pos: 0, flags, base: base & (dir ? DIR_RIGHTS : FILE_RIGHTS), inheriting, preopen };
}
