import { EntryKind } from '../../files/image.js';
import { Errno } from '../errno.js';
import { copyBytes } from '../memory.js';
import type { ImageIndex } from './image-index.js';

/*
 * A process's writable tree over a read-only files image. Nothing is copied up front: an inode gets
 * an object the first time the process touches it, a directory copies the image's entries the first
 * time one of them changes, and a file copies the image's bytes the first time it is written or
 * grown. The image is only ever read.
 *
 * Everything the process adds is charged to its scratch budget (maxScratchBytes): file contents by
 * the capacity actually allocated, symlink targets by their length, and every name created by a
 * fixed cost, so neither big writes nor millions of empty files can make the host allocate without
 * bound. Over the budget a change fails with ENOSPC and changes nothing.
 */

export interface Inode {
  readonly ino: number;
  readonly kind: EntryKind;
  /** Names it has; an unlinked file lives on while an fd holds it. */
  nlink: number;
  /** Open fds on it: its bytes are freed only once it has neither names nor fds. */
  opens: number;
  size: number;
  /** Its own bytes once changed (capacity >= size, zero past size); null while the image's serve. */
  data: Uint8Array | null;
  /** Where its bytes start in the image while `data` is null. */
  imageAt: number;
  /** Scratch bytes its content holds (data's capacity, or a symlink's target). */
  charged: number;
  target: string;
  /** A directory's own entries once changed; null while the image's serve. */
  entries: Map<string, number> | null;
  /** A directory's parent directory. */
  parent: number;
  /**
   * fd_readdir's listing of a directory ('.', '..', then its entries), kept until they change. One
   * per directory, not per fd, so many fds on a big directory cost no more than one.
   */
  listing: [name: string, ino: number][] | null;
  atim: bigint;
  mtim: bigint;
  ctim: bigint;
}

/** Scratch bytes a new name costs: the inode and map entry the host keeps for it, beyond the name. */
export const NAME_COST = 256;
/** Beyond this a size or offset is not exact as a number: EFBIG before anything else. */
const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
const MIN_CAPACITY = 64;
const encoder = new TextEncoder();
const EMPTY = new Map<string, number>();

/** The realtime clock in nanoseconds, as timestamps are kept. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export class Tree {
  private readonly nodes = new Map<number, Inode>();
  private nextIno: number;
  private used = 0;

  constructor(private readonly index: ImageIndex, private readonly image: Uint8Array, readonly limit: number) {
    this.nextIno = index.last + 1;
  }

  /** Scratch bytes in use. */
  get usedBytes(): number {
    return this.used;
  }

  node(ino: number): Inode {
    let node = this.nodes.get(ino);
    if (node === undefined) {
      node = this.fromImage(ino);
      this.nodes.set(ino, node);
    }
    return node;
  }

  /** The kind of `ino` without giving it an object (fd_readdir's d_type). */
  kindOf(ino: number): number {
    return this.nodes.get(ino)?.kind ?? (this.index.kind[ino] as number);
  }

  lookup(dir: Inode, name: string): number | undefined {
    return this.entriesOf(dir).get(name);
  }

  /** '.', '..' and the entries of `dir`, in the order fd_readdir gives them (an entry's cookie is its place here). */
  listing(dir: Inode): [string, number][] {
    dir.listing ??= [['.', dir.ino], ['..', dir.parent], ...this.entriesOf(dir)];
    return dir.listing;
  }

  isEmpty(dir: Inode): boolean {
    return this.entriesOf(dir).size === 0;
  }

  /** A new file, directory or symlink named `name` in `parent`, or ENOSPC. */
  create(parent: Inode, name: string, kind: EntryKind, target = ''): Inode | number {
    const targetBytes = encoder.encode(target).length;
    if (!this.charge(NAME_COST + name.length + targetBytes)) return Errno.NOSPC;
    const t = nowNs();
    const node: Inode = {
      ino: this.nextIno++, kind, nlink: 1, opens: 0, size: targetBytes, data: null, imageAt: 0, charged: targetBytes, target,
      entries: kind === EntryKind.DIR ? new Map() : null, parent: parent.ino, listing: null, atim: t, mtim: t, ctim: t,
    };
    this.nodes.set(node.ino, node);
    this.addEntry(parent, name, node.ino);
    return node;
  }

  /** Gives `node` one more name, or ENOSPC. */
  link(parent: Inode, name: string, node: Inode): number {
    if (!this.charge(NAME_COST + name.length)) return Errno.NOSPC;
    this.addEntry(parent, name, node.ino);
    node.nlink++;
    node.ctim = nowNs();
    return Errno.SUCCESS;
  }

  /** Removes the name `name` of `node` from `parent`. */
  unlink(parent: Inode, name: string, node: Inode): void {
    this.entriesForChange(parent).delete(name);
    this.touch(parent);
    this.release(NAME_COST + name.length);
    node.nlink = node.kind === EntryKind.DIR ? 0 : node.nlink - 1;
    node.ctim = nowNs();
    this.freeIfGone(node);
  }

  /** Moves `node` from one name to another (the caller has removed what the new name held), or ENOSPC. */
  rename(from: Inode, fromName: string, to: Inode, toName: string, node: Inode): number {
    if (!this.charge(NAME_COST + toName.length)) return Errno.NOSPC;
    this.entriesForChange(from).delete(fromName);
    this.touch(from);
    this.release(NAME_COST + fromName.length);
    this.addEntry(to, toName, node.ino);
    if (node.kind === EntryKind.DIR) {
      node.parent = to.ino;
      node.listing = null; // its '..'
    }
    node.ctim = nowNs();
    return Errno.SUCCESS;
  }

  /** Frees a node's bytes once nothing can reach it (no names, no open fds). */
  freeIfGone(node: Inode): void {
    if (node.nlink > 0 || node.opens > 0) return;
    this.release(node.charged);
    node.charged = 0;
    node.data = null;
  }

  /** Copies up to `n` bytes at `pos` into `dst`; returns how many. */
  read(node: Inode, pos: number, dst: Uint8Array, dstAt: number, n: number): number {
    if (pos >= node.size) return 0;
    const k = Math.min(n, node.size - pos);
    if (node.data !== null) copyBytes(dst, dstAt, node.data, pos, k);
    else copyBytes(dst, dstAt, this.image, node.imageAt + pos, k);
    return k;
  }

  /** Writes `n` bytes of `src` at `pos`, growing the file (zeros fill a gap); ENOSPC/EFBIG change nothing. */
  write(node: Inode, pos: number, src: Uint8Array, srcAt: number, n: number): number {
    const end = pos + n;
    const reserved = this.ensure(node, end);
    if (reserved !== Errno.SUCCESS) return reserved;
    copyBytes(node.data as Uint8Array, pos, src, srcAt, n);
    if (end > node.size) node.size = end;
    node.mtim = node.ctim = nowNs();
    return Errno.SUCCESS;
  }

  /** Sets a file's size: growing adds zeros, shrinking drops the tail. */
  resize(node: Inode, size: number): number {
    if (size > node.size) {
      const reserved = this.ensure(node, size);
      if (reserved !== Errno.SUCCESS) return reserved;
    } else if (node.data !== null) {
      node.data.fill(0, size, node.size);
    }
    node.size = size;
    node.mtim = node.ctim = nowNs();
    return Errno.SUCCESS;
  }

  /**
   * Makes `node` own a buffer of at least `end` bytes holding its content: the copy-on-write step,
   * and growth. Capacity doubles (never past the budget) so appends are amortised.
   */
  ensure(node: Inode, end: number): number {
    if (end > MAX_FILE_SIZE) return Errno.FBIG;
    const have = node.data?.length ?? 0;
    if (node.data !== null && end <= have) return Errno.SUCCESS;
    const need = Math.max(end, node.size);
    const room = this.limit - this.used;
    if (need - have > room) return Errno.NOSPC;
    const capacity = Math.min(Math.max(need, have * 2, MIN_CAPACITY), have + room);
    const next = new Uint8Array(capacity);
    if (node.data !== null) next.set(node.data.subarray(0, node.size));
    else next.set(this.image.subarray(node.imageAt, node.imageAt + node.size));
    this.used += capacity - have;
    node.charged += capacity - have;
    node.data = next;
    return Errno.SUCCESS;
  }

  private charge(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  private release(bytes: number): void {
    this.used -= bytes;
  }

  private entriesOf(dir: Inode): ReadonlyMap<string, number> {
    return dir.entries ?? this.index.entries[dir.ino] ?? EMPTY;
  }

  private entriesForChange(dir: Inode): Map<string, number> {
    dir.entries ??= new Map(this.index.entries[dir.ino]);
    return dir.entries;
  }

  private addEntry(parent: Inode, name: string, ino: number): void {
    this.entriesForChange(parent).set(name, ino);
    this.touch(parent);
  }

  private touch(dir: Inode): void {
    dir.listing = null;
    dir.mtim = dir.ctim = nowNs();
  }

  private fromImage(ino: number): Inode {
    const index = this.index;
    const t = BigInt(index.mtimeMs[ino] ?? 0) * 1_000_000n;
    const target = index.targets.get(ino) ?? '';
    const kind = index.kind[ino] as EntryKind;
    return {
      ino, kind, nlink: 1, opens: 0, size: kind === EntryKind.SYMLINK ? encoder.encode(target).length : (index.size[ino] ?? 0),
      data: null, imageAt: index.offset[ino] ?? 0, charged: 0, target, entries: null, parent: index.parent[ino] ?? ino,
      listing: null, atim: t, mtim: t, ctim: t,
    };
  }
}
