import { Errno } from '../errno.js';
import { entryOf, type WasiState } from '../state.js';
import { readPath, type FileSystem } from './filesystem.js';
import type { FsHandle } from './rights.js';
import { walk, type Place } from './walk.js';

/**
 * The directory fd a path call starts from, holding `rights`: EBADF when closed, ENOTDIR for stdio
 * and files (as a process without files answers), ENOTCAPABLE when a right is missing.
 */
export function dirHandle(s: WasiState, fd: number, rights: number): FsHandle | number {
  const entry = entryOf(s, fd);
  if (entry === undefined) return Errno.BADF;
  if (typeof entry === 'number' || !entry.dir) return Errno.NOTDIR;
  return (entry.base & rights) === rights ? entry : Errno.NOTCAPABLE;
}

/** Where the path at guest memory `[ptr, ptr + len)` leads from directory fd `fd`. */
export function placeOf(s: WasiState, fs: FileSystem, fd: number, rights: number, ptr: number, len: number, follow: boolean): Place | number {
  const h = dirHandle(s, fd, rights);
  if (typeof h === 'number') return h;
  return placeFrom(s, fs, h, ptr, len, follow);
}

export function placeFrom(s: WasiState, fs: FileSystem, h: FsHandle, ptr: number, len: number, follow: boolean): Place | number {
  s.memory.refresh();
  const path = readPath(s.memory, ptr, len);
  if (typeof path === 'number') return path;
  return walk(fs.tree, fs.tree.node(h.ino), path, follow);
}
