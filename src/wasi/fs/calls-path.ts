import { Errno } from '../errno.js';
import { freeFd, installFd, type WasiFunctions, type WasiState } from '../state.js';
import { setTimes } from './calls-fd.js';
import { writeFilestat, type FileSystem } from './filesystem.js';
import { dirHandle, placeFrom, placeOf } from './resolve.js';
import { ALL_FDFLAGS, LOOKUP_SYMLINK_FOLLOW, Oflags, Right } from './rights.js';
import { EntryKind } from '../../files/image.js';
import type { Inode } from './tree.js';
import type { Place } from './walk.js';

/*
 * path_open, the stat calls, link, rename and unlink. The errno for each case is the one POSIX
 * gives and the WASI test suite expects (its permissive set where hosts differ). A path's last
 * symlink is followed only where lookupflags ask; a path ending in '/' must name a directory.
 */

const ALL_OFLAGS = 15;
const U32 = 0xffff_ffff;

const follows = (lookupflags: number): boolean => (lookupflags & LOOKUP_SYMLINK_FOLLOW) !== 0;

/** The guest's u64 rights, keeping only the bits this shim knows (path_open narrows, never refuses). */
const known = (rights: bigint): number => Number(BigInt.asUintN(30, rights));

/** Is `dir` (by inode) `ancestor` or inside it? Moving a directory there would cut it off. */
function within(fs: FileSystem, dir: Inode, ancestor: Inode): boolean {
  for (let at = dir; ; at = fs.tree.node(at.parent)) {
    if (at.ino === ancestor.ino) return true;
    if (at.parent === at.ino) return false;
  }
}

/** Why `from` cannot be renamed over what `to` names, or SUCCESS. */
function renameProblem(fs: FileSystem, from: Place, to: Place): number {
  const node = from.node as Inode;
  if ((from.slash || to.slash) && node.kind !== EntryKind.DIR) return Errno.NOTDIR;
  if (to.parent.nlink === 0) return Errno.NOENT;
  if (node.kind === EntryKind.DIR && within(fs, to.parent, node)) return Errno.INVAL;
  const old = to.node;
  if (old === undefined || old === node) return Errno.SUCCESS;
  if (node.kind === EntryKind.DIR) {
    if (old.kind !== EntryKind.DIR) return Errno.NOTDIR;
    if (!fs.tree.isEmpty(old)) return Errno.NOTEMPTY;
  } else if (old.kind === EntryKind.DIR) {
    return Errno.ISDIR;
  }
  return Errno.SUCCESS;
}

/** Why path_open cannot open what `place` names as `oflags` ask, or SUCCESS (a missing name it may then create). */
function openProblem(place: Place, oflags: number, base: number): number {
  const node = place.node;
  const create = (oflags & Oflags.CREAT) !== 0;
  if (node === undefined) {
    if (!create) return Errno.NOENT;
    if (place.slash) return Errno.ISDIR;
    return place.parent.nlink === 0 ? Errno.NOENT : Errno.SUCCESS;
  }
  if (create && (oflags & Oflags.EXCL) !== 0) return Errno.EXIST;
  if (node.kind === EntryKind.SYMLINK) return Errno.LOOP; // the last component, not followed
  if ((place.slash || (oflags & Oflags.DIRECTORY) !== 0) && node.kind !== EntryKind.DIR) return Errno.NOTDIR;
  // A directory opens for reading only (open(2) says EISDIR for writing, truncating or creating).
  if (node.kind === EntryKind.DIR && ((base & Right.FD_WRITE) !== 0 || (oflags & (Oflags.TRUNC | Oflags.CREAT)) !== 0)) return Errno.ISDIR;
  return Errno.SUCCESS;
}

export function pathCalls(s: WasiState, fs: FileSystem): WasiFunctions {
  const memory = s.memory;
  const tree = fs.tree;

  return {
    path_open(fd: number, dirflags: number, ptr: number, len: number, oflags: number, base: bigint, inheriting: bigint, fdflags: number, fdPtr: number): number {
      const needs = Right.PATH_OPEN | ((oflags & Oflags.CREAT) !== 0 ? Right.PATH_CREATE_FILE : 0)
        | ((oflags & Oflags.TRUNC) !== 0 ? Right.PATH_FILESTAT_SET_SIZE : 0);
      const h = dirHandle(s, fd, needs);
      if (typeof h === 'number') return h;
      if ((oflags & ~ALL_OFLAGS) !== 0 || (fdflags & ~ALL_FDFLAGS) !== 0) return Errno.INVAL;
      if ((oflags & Oflags.CREAT) !== 0 && (oflags & Oflags.DIRECTORY) !== 0) return Errno.INVAL;
      memory.refresh();
      fdPtr >>>= 0;
      if (!memory.fits(fdPtr, 4)) return Errno.FAULT;
      const exclusive = (oflags & (Oflags.CREAT | Oflags.EXCL)) === (Oflags.CREAT | Oflags.EXCL);
      const place = placeFrom(s, fs, h, ptr, len, follows(dirflags) && !exclusive);
      if (typeof place === 'number') return place;
      const problem = openProblem(place, oflags, known(base));
      if (problem !== Errno.SUCCESS) return problem;
      if (freeFd(s) < 0) return Errno.MFILE;
      let node = place.node;
      if (node === undefined) {
        const created = tree.create(place.parent, place.name, EntryKind.FILE);
        if (typeof created === 'number') return created;
        node = created;
      } else if ((oflags & Oflags.TRUNC) !== 0 && node.size > 0) {
        tree.resize(node, 0);
      }
      const handle = fs.open(node, known(base) & h.inheriting, known(inheriting) & h.inheriting, fdflags);
      memory.setU32(fdPtr, installFd(s, handle));
      return Errno.SUCCESS;
    },

    path_filestat_get(fd: number, flags: number, ptr: number, len: number, statPtr: number): number {
      const place = placeOf(s, fs, fd, Right.PATH_FILESTAT_GET, ptr, len, follows(flags));
      if (typeof place === 'number') return place;
      if (place.node === undefined) return Errno.NOENT;
      if (place.slash && place.node.kind !== EntryKind.DIR) return Errno.NOTDIR;
      return writeFilestat(memory, statPtr, place.node);
    },

    path_filestat_set_times(fd: number, flags: number, ptr: number, len: number, atim: bigint, mtim: bigint, fstflags: number): number {
      const place = placeOf(s, fs, fd, Right.PATH_FILESTAT_SET_TIMES, ptr, len, follows(flags));
      if (typeof place === 'number') return place;
      if (place.node === undefined) return Errno.NOENT;
      if (place.slash && place.node.kind !== EntryKind.DIR) return Errno.NOTDIR;
      return setTimes(place.node, atim, mtim, fstflags);
    },

    /** A hard link; directories cannot have one (EPERM), a symlink can (it is not followed unless asked). */
    path_link(oldFd: number, oldFlags: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const target = dirHandle(s, newFd, Right.PATH_LINK_TARGET);
      const from = placeOf(s, fs, oldFd, Right.PATH_LINK_SOURCE, oldPtr, oldLen, follows(oldFlags));
      if (typeof from === 'number') return from;
      if (typeof target === 'number') return target;
      const node = from.node;
      if (node === undefined) return Errno.NOENT;
      if (node.kind === EntryKind.DIR) return Errno.PERM;
      if (from.slash) return Errno.NOTDIR;
      const to = placeFrom(s, fs, target, newPtr, newLen, false);
      if (typeof to === 'number') return to;
      if (to.node !== undefined) return Errno.EXIST;
      if (to.slash || to.parent.nlink === 0) return Errno.NOENT;
      return tree.link(to.parent, to.name, node);
    },

    path_rename(fd: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const target = dirHandle(s, newFd, Right.PATH_RENAME_TARGET);
      const from = placeOf(s, fs, fd, Right.PATH_RENAME_SOURCE, oldPtr, oldLen, false);
      if (typeof from === 'number') return from;
      if (typeof target === 'number') return target;
      if (from.node === undefined) return Errno.NOENT;
      if (from.name === '') return Errno.BUSY; // '.' or a path ending in '..'
      const to = placeFrom(s, fs, target, newPtr, newLen, false);
      if (typeof to === 'number') return to;
      if (to.name === '') return to.node === from.node ? Errno.SUCCESS : Errno.BUSY;
      const problem = renameProblem(fs, from, to);
      if (problem !== Errno.SUCCESS || to.node === from.node) return problem;
      // Replacing frees the name first, so the rename that takes it cannot run out of scratch.
      if (to.node !== undefined) tree.unlink(to.parent, to.name, to.node);
      return tree.rename(from.parent, from.name, to.parent, to.name, from.node);
    },

    path_unlink_file(fd: number, ptr: number, len: number): number {
      const place = placeOf(s, fs, fd, Right.PATH_UNLINK_FILE, ptr, len, false);
      if (typeof place === 'number') return place;
      const node = place.node;
      if (node === undefined) return Errno.NOENT;
      if (node.kind === EntryKind.DIR) return Errno.ISDIR;
      if (place.slash) return Errno.NOTDIR;
      tree.unlink(place.parent, place.name, node);
      return Errno.SUCCESS;
    },

    path_readlink(fd: number, ptr: number, len: number, buf: number, bufLen: number, usedPtr: number): number {
      const place = placeOf(s, fs, fd, Right.PATH_READLINK, ptr, len, false);
      if (typeof place === 'number') return place;
      const node = place.node;
      if (node === undefined) return Errno.NOENT;
      if (node.kind !== EntryKind.SYMLINK) return Errno.INVAL;
      buf >>>= 0;
      bufLen >>>= 0;
      usedPtr >>>= 0;
      if (!memory.fits(buf, bufLen) || !memory.fits(usedPtr, 4)) return Errno.FAULT;
      // The target as written; a buffer too small gets its first bytes (as readlink(2) does).
      const target = new TextEncoder().encode(node.target);
      const n = Math.min(target.length, bufLen, U32);
      memory.u8.set(target.subarray(0, n), buf);
      memory.setU32(usedPtr, n);
      return Errno.SUCCESS;
    },
  };
}
