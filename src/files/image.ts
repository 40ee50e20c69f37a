/*
 * A module version's files as one immutable byte string, the "files image": what the store keeps
 * (content-addressed, so its sha256 names the tree) and what a WASI process reads its preopened `/`
 * from. One format for both, so a run never unpacks an archive and the same tree always has the
 * same bytes, whatever archive it came in.
 *
 *   "WESSFS1\n"                  8 bytes, the magic
 *   u32 little-endian            length N of the index
 *   N bytes of UTF-8 JSON        the index: [[path, kind, size, mtimeMs, target?], ...]
 *   file contents                back to back, in index order
 *
 * Paths are relative to the tree's root, '/'-separated, with no empty, '.' or '..' component. The
 * index is sorted by path (UTF-16 order, as JS compares strings) and names every directory, parents
 * before children. A symlink's target is kept as written and must stay inside the tree when followed
 * from the link's directory. A file's contents start where the previous file's end; directories and
 * symlinks have size 0.
 */

const MAGIC = 'WESSFS1\n';
const HEADER_BYTES = MAGIC.length + 4;

/** What an index entry is. */
export const EntryKind = { DIR: 0, FILE: 1, SYMLINK: 2 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** One entry to pack: a directory, a regular file with its contents, or a symlink with its target. */
export interface PackEntry {
  path: string;
  kind: EntryKind;
  /** Modification time in ms since the epoch (0 when the archive gave none). */
  mtimeMs: number;
  content?: Uint8Array;
  target?: string;
}

/** One entry of a packed image; a file's contents are `bytes.subarray(offset, offset + size)` of the image. */
export interface ImageEntry {
  path: string;
  kind: EntryKind;
  size: number;
  offset: number;
  mtimeMs: number;
  target?: string;
}

/** The count and total size of an image's files (directories are not counted; symlinks count as files of size 0). */
export interface ImageTotals {
  count: number;
  bytes: number;
}

type IndexRow = [path: string, kind: EntryKind, size: number, mtimeMs: number, target?: string];

/** Why `path` cannot name an entry of a tree, or null when it can. */
export function entryPathProblem(path: string): string | null {
  if (path.length === 0) return 'an empty path';
  if (path.startsWith('/')) return `an absolute path (${path})`;
  if (path.includes('\0')) return 'a path with a NUL byte';
  for (const part of path.split('/')) {
    if (part === '' || part === '.') return `a path with an empty or '.' component (${path})`;
    if (part === '..') return `a path that climbs out with '..' (${path})`;
  }
  return null;
}

/** Why a symlink at `path` pointing at `target` would lead out of the tree, or null when it stays inside. */
export function symlinkProblem(path: string, target: string): string | null {
  if (target.length === 0) return `a symlink with an empty target (${path})`;
  if (target.startsWith('/')) return `a symlink to an absolute path (${path} -> ${target})`;
  const depth: string[] = path.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (depth.pop() === undefined) return `a symlink that leads out of the tree (${path} -> ${target})`;
    } else {
      depth.push(part);
    }
  }
  return null;
}

/**
 * Packs entries into an image. Missing parent directories are added (with mtime 0); the same path
 * twice, a file under a file, or a bad path or symlink throws an Error saying which (callers turn
 * it into a 400: the tree is the user's).
 */
export function packImage(entries: readonly PackEntry[]): Uint8Array {
  const byPath = new Map<string, PackEntry>();
  for (const entry of entries) {
    const problem = entryPathProblem(entry.path) ?? (entry.kind === EntryKind.SYMLINK ? symlinkProblem(entry.path, entry.target ?? '') : null);
    if (problem !== null) throw new Error(`the archive has ${problem}`);
    const seen = byPath.get(entry.path);
    if (seen !== undefined && !(seen.kind === EntryKind.DIR && entry.kind === EntryKind.DIR)) {
      throw new Error(`the archive has ${entry.path} twice`);
    }
    byPath.set(entry.path, entry);
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const at = byPath.get(parent);
      if (at === undefined) byPath.set(parent, { path: parent, kind: EntryKind.DIR, mtimeMs: 0 });
      else if (at.kind !== EntryKind.DIR) throw new Error(`the archive has ${path} under ${parent}, which is not a directory`);
    }
  }
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const rows: IndexRow[] = [];
  const contents: Uint8Array[] = [];
  let dataBytes = 0;
  for (const entry of sorted) {
    const content = entry.kind === EntryKind.FILE ? (entry.content ?? new Uint8Array(0)) : undefined;
    const size = content?.byteLength ?? 0;
    const row: IndexRow = [entry.path, entry.kind, size, Math.max(0, Math.trunc(entry.mtimeMs))];
    if (entry.kind === EntryKind.SYMLINK) row.push(entry.target ?? '');
    rows.push(row);
    if (content !== undefined && size > 0) contents.push(content);
    dataBytes += size;
  }
  const index = Buffer.from(JSON.stringify(rows), 'utf8');
  const image = new Uint8Array(HEADER_BYTES + index.byteLength + dataBytes);
  image.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(image.buffer).setUint32(MAGIC.length, index.byteLength, true);
  image.set(index, HEADER_BYTES);
  let at = HEADER_BYTES + index.byteLength;
  for (const content of contents) {
    image.set(content, at);
    at += content.byteLength;
  }
  return image;
}

/**
 * The entries of an image, with each file's offset into it. Throws an Error on bytes that are not an
 * image or whose index does not add up (a damaged blob).
 */
export function readImage(image: Uint8Array): ImageEntry[] {
  if (image.byteLength < HEADER_BYTES || Buffer.from(image.buffer, image.byteOffset, MAGIC.length).toString('latin1') !== MAGIC) {
    throw new Error('not a Wess files image');
  }
  const indexBytes = new DataView(image.buffer, image.byteOffset, image.byteLength).getUint32(MAGIC.length, true);
  if (HEADER_BYTES + indexBytes > image.byteLength) throw new Error('files image: the index runs past the end');
  const rows = JSON.parse(Buffer.from(image.buffer, image.byteOffset + HEADER_BYTES, indexBytes).toString('utf8')) as IndexRow[];
  let offset = HEADER_BYTES + indexBytes;
  const entries: ImageEntry[] = [];
  for (const [path, kind, size, mtimeMs, target] of rows) {
    const entry: ImageEntry = { path, kind, size, offset, mtimeMs };
    if (target !== undefined) entry.target = target;
    entries.push(entry);
    offset += size;
  }
  if (offset !== image.byteLength) throw new Error(`files image: the index accounts for ${offset} bytes of ${image.byteLength}`);
  return entries;
}

/** How many files an image holds and their total size. */
export function imageTotals(entries: readonly ImageEntry[]): ImageTotals {
  let count = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (entry.kind === EntryKind.DIR) continue;
    count++;
    bytes += entry.size;
  }
  return { count, bytes };
}

/** True when `bytes` start as a files image does; a wasm binary ("\0asm") never does. */
export function looksLikeImage(bytes: Uint8Array): boolean {
  if (bytes.byteLength < HEADER_BYTES) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) return false;
  return true;
}
