import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { decodeSchemaVersion } from './codec.js';
import type { Db, DbOp } from './db.js';
import { SCHEMA_KEY, SCHEMA_VERSION } from './keys.js';
import type { BackupKey } from '../backup-key.js';

/**
 * The backup archive: every key and value of the database, read by ONE iterator (so from one
 * implicit LevelDB snapshot: concurrent writes cannot tear it), gzip-compressed:
 *
 *   {"format":"wess-backup","version":2,"schema":5,"key_id":"<16 hex>",...}\n   header, one JSON line
 *   'R' u32be keyLength key u32be valueLength value            one record per entry, in key order
 *   ...
 *   'T' u32be length {"entries":N,"sha256":"<hex>","hmac":"<hex>"}
 *                                                              trailer; sha256 and hmac cover every byte before its 'T'
 *
 * A reader refuses anything that does not end with a matching trailer, so a truncated or damaged
 * archive is never taken for a smaller database. The sha256 says the bytes arrived whole; only the
 * HMAC-SHA256 under the operator's backup key (backup.key, never in the archive) says who made them:
 * the archive carries key hashes and the server secret, so a forged one could restore chosen admin
 * keys. Version 1 archives (before signing) have no hmac and no key_id.
 */

export const BACKUP_FORMAT = 'wess-backup';
const FORMAT_VERSION = 2;
/** The last format without a signature: restored only when the caller skips the signature. */
const UNSIGNED_VERSION = 1;
const RECORD = 0x52; // 'R'
const TRAILER = 0x54; // 'T'
const MAX_HEADER = 64 * 1024;
const MAX_KEY = 64 * 1024;
/** Far above any value Wess writes (a module is at most a few MiB): a bigger length means corruption. */
const MAX_VALUE = 512 * 1024 * 1024;
/** Output is handed on in pieces of about this size, not one write per record. */
const CHUNK = 256 * 1024;


export interface ArchiveHeader {
  format: typeof BACKUP_FORMAT;
  version: number;
  /** Id of the key that signed the archive (absent in unsigned version 1 archives). */
  key_id?: string;
  /** The store layout the entries are in; an older one is migrated when a server next opens it. */
  schema: number;
  created_at: string;
  /** Keys counted just before the snapshot: a progress-bar total, not a promise (the trailer has the count). */
  entries_estimate: number;
}

export interface ArchiveSummary {
  header: ArchiveHeader;
  entries: number;
  /** Bytes of keys and values. */
  bytes: number;
  sha256: string;
}

/** Called as entries go by; totals so far. */
export type Progress = (entries: number, bytes: number) => void;

/** The gzip-compressed archive of the whole database signed with `key`, streamed: memory stays bounded by one chunk. */
export function backupStream(db: Db, key: BackupKey, handlers: Pick<ReadHandlers, 'onHeader' | 'onProgress'> = {}): Readable {
  const gzip = createGzip();
  // pipeline destroys the source when the consumer goes away, which closes the LevelDB iterator.
  return pipeline(Readable.from(archiveChunks(db, key, handlers)), gzip, () => {});
}

async function* archiveChunks(db: Db, key: BackupKey, { onHeader, onProgress }: Pick<ReadHandlers, 'onHeader' | 'onProgress'>): AsyncGenerator<Buffer> {
  const stored = await db.get(SCHEMA_KEY);
  let estimate = 0;
  for await (const _key of db.keys({})) estimate++;
  const header: ArchiveHeader = {
    format: BACKUP_FORMAT,
    version: FORMAT_VERSION,
    schema: stored === undefined ? SCHEMA_VERSION : decodeSchemaVersion(stored),
    created_at: new Date().toISOString(),
    entries_estimate: estimate,
    key_id: key.id,
  };
  await onHeader?.(header);
  const hash = new Digests(key);
  let pending: Uint8Array[] = [Buffer.from(`${JSON.stringify(header)}\n`)];
  let pendingBytes = 0;
  let entries = 0;
  let bytes = 0;
  for await (const [entryKey, value] of db.entries({})) {
    const keyBytes = Buffer.from(entryKey, 'utf8');
    pending.push(Buffer.of(RECORD), u32(keyBytes.length), keyBytes, u32(value.byteLength), value);
    pendingBytes += 9 + keyBytes.length + value.byteLength;
    entries++;
    bytes += keyBytes.length + value.byteLength;
    if (pendingBytes >= CHUNK) {
      yield hashed(hash, pending);
      onProgress?.(entries, bytes);
      pending = [];
      pendingBytes = 0;
    }
  }
  const body = hashed(hash, pending);
  const trailer = Buffer.from(JSON.stringify({ entries, ...hash.digest() }));
  onProgress?.(entries, bytes);
  yield Buffer.concat([body, Buffer.of(TRAILER), u32(trailer.length), trailer]);
}

function u32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n);
  return out;
}

function hashed(hash: Digests, parts: Uint8Array[]): Buffer {
  const chunk = Buffer.concat(parts);
  hash.update(chunk);
  return chunk;
}

/** The sha256 of the archive's bytes and, with a key, their HMAC: fed the same bytes. */
class Digests {
  readonly #sha256: Hash = createHash('sha256');
  readonly #hmac: Hmac | undefined;

  constructor(key: BackupKey | undefined) {
    this.#hmac = key && createHmac('sha256', key.secret);
  }

  update(bytes: Uint8Array): this {
    this.#sha256.update(bytes);
    this.#hmac?.update(bytes);
    return this;
  }

  digest(): { sha256: string; hmac?: string } {
    const sha256 = this.#sha256.digest('hex');
    return this.#hmac ? { sha256, hmac: this.#hmac.digest('hex') } : { sha256 };
  }
}

/** An archive that is not a complete, intact Wess backup. */
export class ArchiveError extends Error {
  constructor(message: string) {
    super(`not a valid Wess backup: ${message}`);
    this.name = 'ArchiveError';
  }
}

/**
 * How a reader treats the signature. By default it must verify under `key` (a version 1 archive,
 * which has none, is refused); `skipSignature` checks only the count and the sha256: for an archive
 * being downloaded, or a restore the operator chose to make without the key.
 */
export interface ReadOptions {
  key?: BackupKey;
  skipSignature?: boolean;
}

export interface ReadHandlers {
  onHeader?(header: ArchiveHeader): void | Promise<void>;
  /** Entries in order, a few thousand (or a few MiB) at a time; awaited before more is read. */
  onBatch?(ops: DbOp[]): Promise<void>;
  onProgress?: Progress;
}

const BATCH_ENTRIES = 5000;
const BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Reads and verifies a compressed archive from `source`: header, every record, then the trailer's
 * count and sha256. Throws ArchiveError on anything wrong; entries already handed to `onBatch` are
 * the caller's to throw away (restore writes them to a temp dir it deletes).
 */
export async function readArchive(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, handlers: ReadHandlers = {}, options: ReadOptions = {}): Promise<ArchiveSummary> {
  if (!options.skipSignature && !options.key) throw new ArchiveError('no backup key to verify its signature with: set backup.key (WESS_BACKUP_KEY) to the key it was made with');
  const gunzip = createGunzip();
  const input = new ByteReader(pipeline(Readable.from(source), gunzip, () => {}));
  try {
    return await readEntries(input, handlers, options);
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    // zlib's own errors ("unexpected end of file", "incorrect header check") mean the same thing.
    if ((err as { code?: string }).code?.startsWith('Z_')) throw new ArchiveError(`${(err as Error).message} (gzip)`);
    throw err;
  } finally {
    gunzip.destroy();
  }
}

async function readEntries(input: ByteReader, handlers: ReadHandlers, options: ReadOptions): Promise<ArchiveSummary> {
  const headerLine = await input.line(MAX_HEADER);
  const header = parseHeader(headerLine.subarray(0, -1));
  const signedBy = options.skipSignature ? undefined : signingKey(header, options.key);
  const hash = new Digests(signedBy).update(headerLine);
  await handlers.onHeader?.(header);
  let ops: DbOp[] = [];
  let opsBytes = 0;
  let entries = 0;
  let bytes = 0;
  for (;;) {
    const marker = await input.exactly(1, 'a record or the trailer');
    if (marker[0] === TRAILER) break;
    if (marker[0] !== RECORD) throw new ArchiveError(`unexpected byte 0x${(marker[0] ?? 0).toString(16)} where a record should start`);
    const keyLength = await input.exactly(4, 'a key length');
    const key = await input.exactly(checkLength(keyLength.readUInt32BE(0), MAX_KEY, 'key'), 'a key');
    const valueLength = await input.exactly(4, 'a value length');
    const value = await input.exactly(checkLength(valueLength.readUInt32BE(0), MAX_VALUE, 'value'), 'a value');
    hash.update(marker).update(keyLength).update(key).update(valueLength).update(value);
    ops.push({ type: 'put', key: key.toString('utf8'), value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) });
    entries++;
    bytes += key.length + value.length;
    opsBytes += key.length + value.length;
    if (ops.length >= BATCH_ENTRIES || opsBytes >= BATCH_BYTES) {
      await handlers.onBatch?.(ops);
      handlers.onProgress?.(entries, bytes);
      ops = [];
      opsBytes = 0;
    }
  }
  if (ops.length > 0) await handlers.onBatch?.(ops);
  handlers.onProgress?.(entries, bytes);
  const digests = hash.digest();
  checkTrailer(await readTrailer(input), entries, digests, signedBy);
  if (!(await input.atEnd())) throw new ArchiveError('bytes follow the trailer');
  return { header, entries, bytes, sha256: digests.sha256 };
}

/** The key a signed archive must verify under, refusing an unsigned one or one made with another key before any record is read. */
function signingKey(header: ArchiveHeader, key: BackupKey | undefined): BackupKey {
  if (header.version === UNSIGNED_VERSION) {
    throw new ArchiveError('it is not signed (format version 1, made before backups were signed), so nothing says who made it; restore it with --skip-signature only if you kept it yourself');
  }
  if (!key) throw new ArchiveError('no backup key to verify its signature with');
  if (header.key_id !== key.id) {
    throw new ArchiveError(`it was signed with another backup key (key id ${String(header.key_id)}; the configured backup.key has id ${key.id}); restore it with the key it was made with`);
  }
  return key;
}

function checkLength(length: number, max: number, what: string): number {
  if (length > max) throw new ArchiveError(`a ${what} length of ${length} bytes is over the ${max}-byte maximum: the archive is damaged`);
  return length;
}

function parseHeader(line: Buffer): ArchiveHeader {
  let header: Partial<ArchiveHeader>;
  try {
    header = JSON.parse(line.toString('utf8')) as Partial<ArchiveHeader>;
  } catch {
    throw new ArchiveError('the first line is not a JSON header');
  }
  if (header.format !== BACKUP_FORMAT) throw new ArchiveError(`the header names format ${JSON.stringify(header.format)}, not "${BACKUP_FORMAT}"`);
  if (header.version !== FORMAT_VERSION && header.version !== UNSIGNED_VERSION) {
    throw new ArchiveError(`archive format version ${String(header.version)}; this Wess reads versions ${UNSIGNED_VERSION} and ${FORMAT_VERSION}`);
  }
  if (typeof header.schema !== 'number' || !Number.isInteger(header.schema) || header.schema < 1) throw new ArchiveError('the header has no store schema number');
  if (header.schema > SCHEMA_VERSION) {
    throw new ArchiveError(`it holds a schema ${header.schema} store, newer than this Wess (schema ${SCHEMA_VERSION}); restore it with a newer Wess`);
  }
  return header as ArchiveHeader;
}

type Trailer = { entries?: unknown; sha256?: unknown; hmac?: unknown };

async function readTrailer(input: ByteReader): Promise<Trailer> {
  const length = (await input.exactly(4, 'the trailer length')).readUInt32BE(0);
  const body = await input.exactly(checkLength(length, MAX_HEADER, 'trailer'), 'the trailer');
  try {
    return JSON.parse(body.toString('utf8')) as Trailer;
  } catch {
    throw new ArchiveError('the trailer is not JSON');
  }
}

function checkTrailer(trailer: Trailer, entries: number, digests: { sha256: string; hmac?: string }, key: BackupKey | undefined): void {
  if (trailer.entries !== entries) throw new ArchiveError(`the trailer counts ${String(trailer.entries)} entries but ${entries} were read`);
  const { sha256, hmac } = digests;
  if (trailer.sha256 !== sha256) throw new ArchiveError(`checksum mismatch: the trailer says sha256 ${String(trailer.sha256)}, the content hashes to ${sha256}`);
  if (key && !(typeof trailer.hmac === 'string' && hmac !== undefined && sameHex(trailer.hmac, hmac))) {
    throw new ArchiveError(`its signature does not verify under the backup key (id ${key.id}): it was changed after it was made`);
  }
}

/** Constant-time comparison of two hex strings. */
function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  readonly #source: AsyncIterator<Buffer>;
  #chunks: Buffer[] = [];
  #available = 0;
  #done = false;
  constructor(source: AsyncIterable<Buffer>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** Exactly `n` bytes; ArchiveError naming `what` when the stream ends first (a truncated archive). */
  async exactly(n: number, what: string): Promise<Buffer> {
    while (this.#available < n) {
      if (!(await this.#pull())) throw new ArchiveError(`it ends in the middle of ${what}: the archive is truncated`);
    }
    return this.#take(n);
  }

  /** The bytes up to and including the first newline, at most `max` of them. */
  async line(max: number): Promise<Buffer> {
    for (;;) {
      const joined = Buffer.concat(this.#chunks);
      this.#chunks = joined.length ? [joined] : [];
      const at = joined.indexOf(0x0a);
      if (at !== -1) return this.#take(at + 1);
      if (this.#available > max) throw new ArchiveError('the header line is missing or too long');
      if (!(await this.#pull())) throw new ArchiveError(this.#available === 0 ? 'it is empty' : 'it ends inside the header line');
    }
  }

  async atEnd(): Promise<boolean> {
    while (this.#available === 0) if (!(await this.#pull())) return true;
    return false;
  }

  async #pull(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#source.next();
    if (next.done) {
      this.#done = true;
      return false;
    }
    this.#chunks.push(next.value);
    this.#available += next.value.length;
    return true;
  }

  #take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const first = this.#chunks[0] as Buffer;
      const used = Math.min(first.length, n - filled);
      first.copy(out, filled, 0, used);
      filled += used;
      if (used === first.length) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(used);
    }
    this.#available -= n;
    return out;
  }
}
