import { Errno } from '../errno.js';
import type { WasiFunctions, WasiState } from '../state.js';
import { filetypeOf, readPath, type FileSystem } from './filesystem.js';
import { dirHandle, placeOf } from './resolve.js';
import { Right } from './rights.js';
import { EntryKind } from '../../files/image.js';

/*
 * Directories: fd_readdir, mkdir, rmdir and symlink.
 *
 *   dirent (24 bytes, then d_namlen bytes of name, no NUL): d_next u64 @0 (the cookie of the entry
 *   after it), d_ino u64 @8, d_namlen u32 @16, d_type u8 @20
 *
 * A listing is '.', '..' and then the entries in the directory's order; an entry's cookie is its
 * place in that list. fd_readdir fills the buffer, cutting the last entry short when it does not fit
 * (so a full buffer tells the guest to ask again from the last whole entry's d_next).
 */

const DIRENT_BYTES = 24;
const encoder = new TextEncoder();

export function dirCalls(s: WasiState, fs: FileSystem): WasiFunctions {
  const memory = s.memory;
  const tree = fs.tree;
  const header = new Uint8Array(DIRENT_BYTES);
  const headerView = new DataView(header.buffer);

  return {
    fd_readdir(fd: number, buf: number, bufLen: number, cookie: bigint, usedPtr: number): number {
      const h = dirHandle(s, fd, Right.FD_READDIR);
      if (typeof h === 'number') return h;
      memory.refresh();
      buf >>>= 0;
      bufLen >>>= 0;
      usedPtr >>>= 0;
      if (!memory.fits(buf, bufLen) || !memory.fits(usedPtr, 4)) return Errno.FAULT;
      const listing = tree.listing(tree.node(h.ino));
      const from = BigInt.asUintN(64, cookie);
      let used = 0;
      for (let i = from < listing.length ? Number(from) : listing.length; i < listing.length && used < bufLen; i++) {
        const [name, ino] = listing[i] as [string, number];
        const bytes = encoder.encode(name);
        headerView.setBigUint64(0, BigInt(i + 1), true);
        headerView.setBigUint64(8, BigInt(ino), true);
        headerView.setUint32(16, bytes.length, true);
        header[20] = filetypeOf(tree.kindOf(ino));
        const h1 = Math.min(DIRENT_BYTES, bufLen - used);
        memory.u8.set(header.subarray(0, h1), buf + used);
        used += h1;
        const n = Math.min(bytes.length, bufLen - used);
        memory.u8.set(bytes.subarray(0, n), buf + used);
        used += n;
      }
      memory.setU32(usedPtr, used);
      return Errno.SUCCESS;
    },

    path_create_directory(fd: number, ptr: number, len: number): number {
      const place = placeOf(s, fs, fd, Right.PATH_CREATE_DIRECTORY, ptr, len, false);
      if (typeof place === 'number') return place;
      if (place.node !== undefined) return Errno.EXIST;
      if (place.parent.nlink === 0) return Errno.NOENT;
      const created = tree.create(place.parent, place.name, EntryKind.DIR);
      return typeof created === 'number' ? created : Errno.SUCCESS;
    },

    path_remove_directory(fd: number, ptr: number, len: number): number {
      const place = placeOf(s, fs, fd, Right.PATH_REMOVE_DIRECTORY, ptr, len, false);
      if (typeof place === 'number') return place;
      const node = place.node;
      if (node === undefined) return Errno.NOENT;
      if (place.name === '') return Errno.INVAL; // '.', or a path ending in '..'
      if (node.kind !== EntryKind.DIR) return Errno.NOTDIR;
      if (!tree.isEmpty(node)) return Errno.NOTEMPTY;
      tree.unlink(place.parent, place.name, node);
      return Errno.SUCCESS;
    },

    /**
     * A symlink keeps its target as written. One that starts at '/' could only lead out of the tree,
     * so it is refused here; one that climbs out with '..' is refused when something follows it.
     */
    path_symlink(targetPtr: number, targetLen: number, fd: number, ptr: number, len: number): number {
      const h = dirHandle(s, fd, Right.PATH_SYMLINK);
      if (typeof h === 'number') return h;
      memory.refresh();
      const target = readPath(memory, targetPtr, targetLen);
      if (typeof target === 'number') return target;
      if (target === '') return Errno.NOENT;
      if (target.startsWith('/')) return Errno.NOTCAPABLE;
      const place = placeOf(s, fs, fd, Right.PATH_SYMLINK, ptr, len, false);
      if (typeof place === 'number') return place;
      if (place.node !== undefined) return Errno.EXIST;
      if (place.slash || place.parent.nlink === 0) return Errno.NOENT;
      const created = tree.create(place.parent, place.name, EntryKind.SYMLINK, target);
      return typeof created === 'number' ? created : Errno.SUCCESS;
    },
  };
}
