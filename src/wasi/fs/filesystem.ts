import { Errno } from '../errno.js';
import { FILESTAT_BYTES, type GuestMemory } from '../memory.js';
import type { WasiFiles } from '../types.js';
import { ROOT_INO, imageIndex } from './image-index.js';
import { DIR_INHERITING_RIGHTS, DIR_RIGHTS, Filetype, newHandle, type FsHandle } from './rights.js';
import { EntryKind } from '../../files/image.js';
import { Tree, type Inode } from './tree.js';

/** Scratch bytes a process may write when the input names no bound. */
export const DEFAULT_SCRATCH_BYTES = 16 * 1024 * 1024;
// Every inode is on one device, whose number means nothing.
const DEV = 0x5745_5353n;
/** The longest path argument taken (ENAMETOOLONG past it), so a path never costs the host more than this. */
const PATH_MAX = 64 * 1024;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A process's filesystem: the tree over the version's files, preopened as `/`. */
export class FileSystem {
  readonly tree: Tree;

  constructor(files: WasiFiles, maxScratchBytes = DEFAULT_SCRATCH_BYTES) {
    this.tree = new Tree(imageIndex(files), files.image, maxScratchBytes);
  }

  /** The handle fd 3 starts with: `/`, with every right a directory and what it opens can have. */
  preopen(): FsHandle {
    return this.open(this.tree.node(ROOT_INO), DIR_RIGHTS, DIR_INHERITING_RIGHTS, 0, '/');
  }

  open(node: Inode, base: number, inheriting: number, flags: number, preopen: string | null = null): FsHandle {
    node.opens++;
    return newHandle(node.ino, node.kind === EntryKind.DIR, base, inheriting, flags, preopen);
  }

  close(handle: FsHandle): void {
    const node = this.tree.node(handle.ino);
    node.opens--;
    this.tree.freeIfGone(node);
  }
}

export function filetypeOf(kind: number): number {
  return kind === EntryKind.DIR ? Filetype.DIRECTORY : kind === EntryKind.SYMLINK ? Filetype.SYMBOLIC_LINK : Filetype.REGULAR_FILE;
}

/** A path argument: EFAULT outside memory, ENAMETOOLONG past PATH_MAX, EILSEQ when not UTF-8, EINVAL with a NUL in it. */
export function readPath(memory: GuestMemory, ptr: number, len: number): string | number {
  ptr >>>= 0;
  len >>>= 0;
  if (!memory.fits(ptr, len)) return Errno.FAULT;
  if (len > PATH_MAX) return Errno.NAMETOOLONG;
  let path: string;
  try {
    path = decoder.decode(memory.u8.slice(ptr, ptr + len));
  } catch {
    return Errno.ILSEQ;
  }
  return path.includes('\0') ? Errno.INVAL : path;
}

/**
 * Writes a filestat, or answers EFAULT.
 *   filestat (64 bytes): dev @0, ino @8, filetype u8 @16, nlink @24, size @32, atim @40, mtim @48, ctim @56
 */
export function writeFilestat(memory: GuestMemory, ptr: number, node: Inode): number {
  ptr >>>= 0;
  if (!memory.fits(ptr, FILESTAT_BYTES)) return Errno.FAULT;
  memory.u8.fill(0, ptr, ptr + FILESTAT_BYTES);
  memory.setBigU64(ptr, DEV);
  memory.setU64(ptr + 8, node.ino);
  memory.u8[ptr + 16] = filetypeOf(node.kind);
  memory.setU64(ptr + 24, node.kind === EntryKind.DIR ? (node.nlink > 0 ? 2 : 0) : node.nlink);
  memory.setU64(ptr + 32, node.size);
  memory.setBigU64(ptr + 40, node.atim);
  memory.setBigU64(ptr + 48, node.mtim);
  memory.setBigU64(ptr + 56, node.ctim);
  return Errno.SUCCESS;
}
