import { LRUCache } from 'lru-cache';
import { EntryKind, readImage } from '../../files/image.js';
import type { WasiFiles } from '../types.js';

/*
 * A files image's index in the shape the filesystem walks: flat typed arrays by inode number and one
 * name → inode map per directory. Built once per sha256 per worker thread and shared by every run of
 * that version, so a run itself starts with no per-file work at all.
 *
 *   ino 1        the root (the image has no entry for it)
 *   ino i + 2    the image's entry i
 */

export const ROOT_INO = 1;

export interface ImageIndex {
  /** Inode numbers 1..last belong to the image; a run numbers its new files from last + 1. */
  readonly last: number;
  readonly kind: Uint8Array;
  readonly size: Float64Array;
  /** Where a file's bytes start in the image. */
  readonly offset: Float64Array;
  readonly mtimeMs: Float64Array;
  /** A directory's parent (the root is its own). */
  readonly parent: Int32Array;
  readonly targets: ReadonlyMap<number, string>;
  /** A directory's entries, in the image's (sorted) order. */
  readonly entries: readonly (ReadonlyMap<string, number> | undefined)[];
}

function buildIndex(image: Uint8Array): ImageIndex {
  const list = readImage(image);
  const last = list.length + 1;
  const kind = new Uint8Array(last + 1);
  const size = new Float64Array(last + 1);
  const offset = new Float64Array(last + 1);
  const mtimeMs = new Float64Array(last + 1);
  const parent = new Int32Array(last + 1);
  const targets = new Map<number, string>();
  const entries: (Map<string, number> | undefined)[] = [];
  const inoOfPath = new Map<string, number>([['', ROOT_INO]]);
  kind[ROOT_INO] = EntryKind.DIR;
  parent[ROOT_INO] = ROOT_INO;
  entries[ROOT_INO] = new Map();
  list.forEach((entry, i) => {
    const ino = i + 2;
    const slash = entry.path.lastIndexOf('/');
    // Parents come before children in the image's sorted index.
    const parentIno = inoOfPath.get(slash < 0 ? '' : entry.path.slice(0, slash));
    const siblings = parentIno === undefined ? undefined : entries[parentIno];
    if (parentIno === undefined || siblings === undefined) throw new Error(`files image: ${entry.path} has no parent directory`);
    siblings.set(entry.path.slice(slash + 1), ino);
    kind[ino] = entry.kind;
    size[ino] = entry.size;
    offset[ino] = entry.offset;
    mtimeMs[ino] = entry.mtimeMs;
    parent[ino] = parentIno;
    if (entry.kind === EntryKind.DIR) {
      inoOfPath.set(entry.path, ino);
      entries[ino] = new Map();
    } else if (entry.kind === EntryKind.SYMLINK) {
      targets.set(ino, entry.target ?? '');
    }
  });
  return { last, kind, size, offset, mtimeMs, parent, targets, entries };
}

// A worker runs few versions with files at once; a handful of indexes covers them without letting
// a stream of different versions grow the cache.
const cache = new LRUCache<string, ImageIndex>({ max: 4 });

/** The index of `files.image`, parsed on first use and kept (least recently used out) by sha256. */
export function imageIndex(files: WasiFiles): ImageIndex {
  let index = cache.get(files.sha256);
  if (index === undefined) {
    index = buildIndex(files.image);
    cache.set(files.sha256, index);
  }
  return index;
}
