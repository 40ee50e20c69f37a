import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { tierSuffix } from '../auth/policy.js';
import { hasErrorCode, wessError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import type { FilesContent } from '../store/types.js';
import { EntryKind, entryPathProblem, imageTotals, packImage, readImage, symlinkProblem, type ImageEntry, type ImageTotals, type PackEntry } from './image.js';

/*
 * A module version's files arrive as a tar archive, plain or gzipped, and are stored as a files
 * image (image.ts). This reads the archive in memory with node-tar's Parser (pax and GNU long names
 * included) and refuses, with the first problem named, anything that is not a plain tree: links
 * other than symlinks that stay inside it, devices, fifos, absolute paths, `..`.
 *
 * Limits hold while reading, never after: gunzip stops at the most a tar within the limits can be
 * (a gzip bomb is never inflated in full), and parsing stops at the first entry past max_files or
 * the first byte past max_files_bytes.
 */

/** The limits an archive is read under (a tier may lower the global ones). */
export interface FilesLimits {
  /** Bytes of file contents, unpacked (limits.max_files_bytes). */
  maxFilesBytes: number;
  /** Entries: files, directories and symlinks (limits.max_files). */
  maxFiles: number;
  /** The tier the limits come from, named in refusals. */
  tier?: string | null;
}


const GZIP_MAGIC = [0x1f, 0x8b] as const;
/** A tar header block, and the most a header (with a pax or GNU long-name block before it) costs per entry. */
const BLOCK = 512;
const HEADER_ALLOWANCE = 2 * BLOCK;
/** Room for tar's end-of-archive blocks, padding, and a global pax header. */
const SLACK = 1024 * 1024;

/**
 * The most bytes a tar (as sent, or inside a gzip) may have under `limits`: the contents, a header
 * allowance per entry and some slack. Past it the archive cannot be within the limits, whatever it holds.
 */
export function maxArchiveBytes(limits: Pick<FilesLimits, 'maxFilesBytes' | 'maxFiles'>): number {
  return limits.maxFilesBytes + limits.maxFiles * HEADER_ALLOWANCE + SLACK;
}

/** Reads `archive` (tar, or tar.gz by its magic) into a files image; VALIDATION or PAYLOAD_TOO_LARGE naming the problem. */
export async function packArchive(archive: Uint8Array, limits: FilesLimits): Promise<FilesContent> {
  const tar = await untarable(archive, limits);
  const entries = await readEntries(tar, limits);
  let image: Uint8Array;
  try {
    image = packImage(entries);
  } catch (err) {
    throw invalid((err as Error).message.replace(/^the archive has /, 'it has '));
  }
  // Checked again on the image: directories the archive left implicit count as entries too.
  return admitImage(image, limits);
}

/** packArchive of the base64 an upload's JSON carries, refused before decoding when it cannot be within the limits. */
export async function packBase64Archive(base64: string, limits: FilesLimits): Promise<FilesContent> {
  const most = maxArchiveBytes(limits);
  // 4 base64 characters carry 3 bytes.
  if (Math.floor((base64.length * 3) / 4) > most + 2) throw tooLarge(`the archive is over ${most} bytes, the most a tar within the limits can be`, limits);
  return packArchive(Buffer.from(base64, 'base64'), limits);
}

/**
 * A stored files image coming back (an import), checked as an upload's archive would be: it must
 * read as an image, and its entries and bytes must be within `limits`.
 */
export function admitImage(image: Uint8Array, limits: FilesLimits): FilesContent {
  let entries: ImageEntry[];
  try {
    entries = readImage(image);
  } catch (err) {
    throw wessError('VALIDATION', `files: ${(err as Error).message}`);
  }
  if (entries.length > limits.maxFiles) throw tooLarge(`it has ${entries.length} entries (directories included)`, limits, 'max_files', limits.maxFiles);
  const totals = imageTotals(entries);
  if (totals.bytes > limits.maxFilesBytes) throw tooLarge(`its files hold ${totals.bytes} bytes`, limits);
  return filesContent(image, totals);
}

function filesContent(image: Uint8Array, totals: ImageTotals): FilesContent {
  return { image, summary: { count: totals.count, bytes: totals.bytes, sha256: sha256Hex(image), size: image.byteLength } };
}

// Inflating up to ~27 MB takes tens of ms: on libuv's threads, not the main thread every tenant's requests share.
const gunzipAsync = promisify(gunzip);

/** The plain tar in `archive`: the bytes themselves, or gunzipped with its output bounded. */
async function untarable(archive: Uint8Array, limits: FilesLimits): Promise<Buffer> {
  const most = maxArchiveBytes(limits);
  const bytes = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  if (bytes.byteLength === 0) throw invalid('it is empty');
  if (!isGzip(bytes)) {
    if (bytes.byteLength > most) throw tooLarge(`the archive is ${bytes.byteLength} bytes`, limits);
    return bytes;
  }
  let tar: Buffer;
  try {
    tar = await gunzipAsync(bytes, { maxOutputLength: most });
  } catch (err) {
    // ERR_BUFFER_TOO_LARGE: zlib stopped at maxOutputLength, so the bomb was never inflated in full.
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(`the archive unpacks to more than ${most} bytes of tar`, limits);
    throw invalid(`it is not a readable gzip (${(err as Error).message})`);
  }
  // A gzip inside the gzip would be inflated by the parser, past our bound: it is not a tar either.
  if (isGzip(tar)) throw invalid('it is a gzip inside a gzip, not a tar archive');
  return tar;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** The archive's entries, checked one by one as the parser meets them. */
function readEntries(tar: Buffer, limits: FilesLimits): Promise<PackEntry[]> {
  return new Promise<PackEntry[]>((resolve, reject) => {
    const entries: PackEntry[] = [];
    let bytes = 0;
    let failed: Error | undefined;
    // zstd: false, so a plain tar is never sniffed as compressed; brotli is off unless a file name says so.
    const parser = new Parser({ strict: true, zstd: false });
    // The parser may end with 'abort', 'error', 'end' or 'close' (or several): the first settles.
    const stop = (err: Error) => {
      if (failed !== undefined) return;
      failed = err;
      reject(err);
      parser.abort(err);
    };
    parser.on('entry', (entry: ReadEntry) => {
      if (failed !== undefined) return void entry.resume();
      try {
        const taken = takeEntry(entry, entries.length, limits);
        if (taken === undefined) return void entry.resume();
        entries.push(taken);
        if (taken.kind !== EntryKind.FILE) return void entry.resume();
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => {
          if (failed !== undefined) return;
          bytes += chunk.byteLength;
          if (bytes > limits.maxFilesBytes) return stop(tooLarge(`its files hold more than ${limits.maxFilesBytes} bytes`, limits));
          chunks.push(chunk);
        });
        entry.on('end', () => {
          taken.content = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        });
      } catch (err) {
        stop(err as Error);
        entry.resume();
      }
    });
    parser.on('error', (err: Error) => {
      if (hasErrorCode(err)) return stop(err);
      // node-tar calls a tar of end blocks only "unrecognized": it is a tar, of nothing.
      if (entries.length === 0 && tar.every((byte) => byte === 0)) return stop(invalid('it holds no entries; leave "files" out for a version without files'));
      stop(invalid(tarMessage(err, entries.length === 0)));
    });
    parser.on('abort', (err: Error) => stop(err));
    parser.on('end', () => resolve(entries));
    parser.on('close', () => resolve(entries));
    parser.end(tar);
  });
}

/** The entry to pack for one tar entry, undefined for the root itself; throws naming what is refused. */
function takeEntry(entry: ReadEntry, seen: number, limits: FilesLimits): PackEntry | undefined {
  const path = normalPath(entry.path);
  if (path === '') return undefined;
  if (seen >= limits.maxFiles) throw tooLarge(`it has more than ${limits.maxFiles} entries`, limits, 'max_files', limits.maxFiles);
  const problem = entryPathProblem(path);
  if (problem !== null) throw invalid(`it has ${problem}`);
  const mtimeMs = entry.mtime?.getTime() ?? 0;
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return { path, kind: EntryKind.FILE, mtimeMs };
    case 'Directory':
      return { path, kind: EntryKind.DIR, mtimeMs };
    case 'SymbolicLink': {
      const target = entry.linkpath ?? '';
      const outside = symlinkProblem(path, target);
      if (outside !== null) throw invalid(`it has ${outside}`);
      return { path, kind: EntryKind.SYMLINK, mtimeMs, target };
    }
    case 'Link':
      throw invalid(`it has a hard link (${path}); only files, directories and symlinks inside the tree are taken`);
    default:
      throw invalid(`it has ${path} of type ${entry.type}; only files, directories and symlinks inside the tree are taken`);
  }
}

/** An archive path as the tree names it: no leading `./` (tar -C dir . writes them), no trailing `/`. */
function normalPath(raw: string): string {
  let path = raw;
  while (path.startsWith('./')) path = path.slice(2);
  while (path.endsWith('/') && path.length > 1) path = path.slice(0, -1);
  return path === '.' ? '' : path;
}

/** What node-tar's complaint means to the uploader; bytes that fail before any entry are no tar at all. */
function tarMessage(err: Error, first: boolean): string {
  if (/Unrecognized archive format/.test(err.message) || (first && /checksum failure|TAR_ENTRY_INVALID/.test(err.message))) return 'it is not a tar archive (plain or gzipped)';
  return `it is not a readable tar archive (${err.message.replace(/^TAR_[A-Z_]+: /, '')})`;
}

function invalid(why: string): Error {
  return wessError('VALIDATION', `body.files: ${why}`);
}

function tooLarge(what: string, limits: FilesLimits, key = 'max_files_bytes', limit = limits.maxFilesBytes): Error {
  const allowed = key === 'max_files' ? `${limit} entries` : `${limit} bytes`;
  return wessError('PAYLOAD_TOO_LARGE', `body.files: ${what}; the limit is ${allowed} (limits.${key})${tierSuffix(limits.tier)}`, {
    limit,
    limit_key: `limits.${key}`,
    tier: limits.tier ?? null,
  });
}
