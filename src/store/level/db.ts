import { constants } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { wessError } from '../../errors.js';
import { batches } from './batches.js';

/**
 * All the rest of Wess sees of LevelDB: string keys, raw byte values, one atomic batch call
 * and range iteration. Swapping the engine (or putting PostgreSQL behind the same shape) stays
 * local to this file; JSON encoding of records happens above it.
 */
export interface Db extends DbReader {
  /** 'opening' | 'open' | 'closing' | 'closed', as the engine reports it (readiness checks use it). */
  readonly status: DbStatus;
  /** Applies every op atomically; with `sync: true` it resolves only once the batch is on disk. */
  batch(ops: readonly DbOp[], options: { sync: boolean }): Promise<void>;
  /** A frozen view of the database as it is now, for reads that must agree with each other; close it after. */
  snapshot(): DbSnapshot;
  /** Closes the database; pending reads finish first. */
  close(): Promise<void>;
}

/** The reads, from the live database or from a snapshot of it. */
export interface DbReader {
  /** The value under `key`, or undefined when there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** True when `key` exists, without reading its (possibly large) value. */
  has(key: string): Promise<boolean>;
  /**
   * Values of `keys` (undefined where none) in one engine call: one snapshot and one trip to the
   * I/O threads for all of them. Optional so that a wrapper (fault injection) may leave it out.
   */
  getMany?(keys: readonly string[]): Promise<Array<Uint8Array | undefined>>;
  /** Entries in key order within `range`. */
  entries(range: KeyRange): AsyncIterable<[string, Uint8Array]>;
  /** Keys in key order within `range`, without reading values. */
  keys(range: KeyRange): AsyncIterable<string>;
}

/** Reads of one moment; `close()` releases what LevelDB keeps alive for it. */
export interface DbSnapshot extends DbReader {
  close(): Promise<void>;
}

export type DbStatus = 'opening' | 'open' | 'closing' | 'closed';

export type DbOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

export interface KeyRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  limit?: number;
  reverse?: boolean;
}

export interface OpenDbOptions {
  maxOpenFiles: number;
  /**
   * Write this process's pid beside LevelDB's LOCK while the database is open (the server does, so
   * that a second start can say who holds the directory and `wess reload` can find the server).
   */
  pidFile?: boolean;
}

/** The file in a data directory that names the server holding it: its pid and a newline. */
export const PID_FILE = 'wess.pid';

/** Why a database could not be opened: held by another process, or not accessible to this one. */
export type DbOpenCode = 'DB_LOCKED' | 'DB_ACCESS';

/** A database that cannot be opened, for a reason the operator can fix; the message says which. */
export class DbOpenError extends Error {
  constructor(
    readonly code: DbOpenCode,
    message: string,
    readonly path: string,
    /** The pid of the server holding the directory, when a live one is known. */
    readonly pid: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DbOpenError';
  }
}

type Level = ClassicLevel<string, Uint8Array>;

/**
 * Memtable and table file sizes for a store whose bulk is 100 KiB–2 MiB blobs under random keys
 * (`b!<sha256>`). With LevelDB's defaults (4 MiB memtable, 2 MiB files) every few batches of
 * uploads flush a small level-0 file that overlaps all of level 1, and compaction rewrites that
 * data again and again: raw batched sync writes of 100 KiB values under sha256 keys ran at 0.3–0.6×
 * the same writes under sequential keys here. A 32 MiB memtable with 16 MiB files made them 2–4×
 * faster than with the defaults, ~0.7× of sequential keys (5 s runs alternated, 32 writers; a
 * 32 MiB memtable alone gained half as much). The cost is memory, up to two memtables (64 MiB),
 * and a longer log to replay at open. Measured with schema 3's layout; schema 4 keeps only small
 * pointers under `b!<sha256>` and puts the bytes under time-ordered keys (keys.ts).
 */
const WRITE_BUFFER_BYTES = 32 * 1024 * 1024;
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** Opens (creating when missing) the LevelDB database at `path`. */
export async function openDb(path: string, options: OpenDbOptions): Promise<Db> {
  await usableDirectory(path);
  const level: Level = new ClassicLevel<string, Uint8Array>(path, {
    keyEncoding: 'utf8',
    // 'view' hands back plain Uint8Arrays: no Buffer-specific API leaks above this facade.
    valueEncoding: 'view',
    maxOpenFiles: options.maxOpenFiles,
    writeBufferSize: WRITE_BUFFER_BYTES,
    maxFileSize: MAX_FILE_BYTES,
  });
  try {
    await level.open();
  } catch (err) {
    // The engine's message ("Database failed to open") hides the useful part (e.g. LOCK held) in its cause.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') {
      const pid = await serverPid(path);
      const holder = pid === undefined ? 'another process (a Wess server, or a wess command given --data)' : `another Wess (pid ${pid})`;
      throw new DbOpenError('DB_LOCKED', `the data directory ${path} is locked by ${holder}`, path, pid, { cause: err });
    }
    throw new Error(`cannot open database at ${path}: ${cause?.message ?? (err as Error).message}`, { cause: err });
  }
  if (options.pidFile) {
    try {
      await writeFile(join(path, PID_FILE), `${process.pid}\n`);
    } catch (err) {
      await level.close();
      throw err;
    }
  }
  return new LevelDb(level, options.pidFile ? path : undefined);
}

/**
 * Creates `path` when missing and checks this process may read and write it, so that a directory
 * it cannot use is reported as such (with its errno) rather than as LevelDB's IO error text.
 */
async function usableDirectory(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
    await access(path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new DbOpenError('DB_ACCESS', `cannot use the data directory ${path}: ${code === 'EROFS' ? 'the file system is read-only' : 'permission denied'} (${code})`, path, undefined, { cause: err });
    }
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new DbOpenError('DB_ACCESS', `cannot use the data directory ${path}: it (or a parent) is a file, not a directory`, path, undefined, { cause: err });
    }
    throw err;
  }
}

/**
 * The pid in `path`'s pid file when that process is alive, else undefined. The server writes the
 * file once it holds the LOCK and removes it at a clean close; one left by a crash names a dead pid.
 */
export async function serverPid(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(join(path, PID_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive, but another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

type LevelSnapshot = ReturnType<Level['snapshot']>;

/** Reads of the live database (no snapshot: each read sees its own moment) or of one snapshot. */
class LevelReader implements DbReader {
  protected readonly level: Level;
  readonly #at: { snapshot: LevelSnapshot } | undefined;

  constructor(level: Level, snapshot?: LevelSnapshot) {
    this.level = level;
    this.#at = snapshot ? { snapshot } : undefined;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = await guard(this.#at ? this.level.get(key, this.#at) : this.level.get(key));
    return value === undefined ? undefined : plainView(value);
  }

  has(key: string): Promise<boolean> {
    return guard(this.#at ? this.level.has(key, this.#at) : this.level.has(key));
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    const values = await guard(this.level.getMany([...keys], this.#at ?? {}));
    return values.map((value) => (value === undefined ? undefined : plainView(value)));
  }

  async *entries(range: KeyRange): AsyncIterable<[string, Uint8Array]> {
    for await (const [key, value] of guardIterable(batches(this.level.iterator({ ...levelRange(range), ...this.#at }), range))) {
      yield [key, plainView(value)];
    }
  }

  keys(range: KeyRange): AsyncIterable<string> {
    return guardIterable(batches(this.level.keys({ ...levelRange(range), ...this.#at }), range));
  }
}

class LevelDb extends LevelReader implements Db {
  constructor(
    level: Level,
    /** The directory whose pid file this handle wrote, removed again at close. */
    private readonly pidDir: string | undefined,
  ) {
    super(level);
  }

  get status(): DbStatus {
    return this.level.status as DbStatus;
  }

  batch(ops: readonly DbOp[], options: { sync: boolean }): Promise<void> {
    return guard(this.level.batch(ops.map((op) => ({ ...op })), { sync: options.sync }));
  }

  snapshot(): DbSnapshot {
    const snapshot = this.level.snapshot();
    const reader = new LevelReader(this.level, snapshot);
    return Object.assign(reader, { close: () => snapshot.close() });
  }

  async close(): Promise<void> {
    // Before the LOCK is released: once it is, a new server may have written its own pid there.
    if (this.pidDir !== undefined && this.level.status === 'open') {
      // A pid file left behind only names a dead process: serverPid() then ignores it.
      await rm(join(this.pidDir, PID_FILE), { force: true }).catch(() => undefined);
    }
    await this.level.close();
  }
}

/**
 * The engine hands back Buffers; a plain Uint8Array over the same memory (no copy) keeps Buffer's
 * surprises (e.g. `slice()` sharing memory instead of copying) from leaking above the facade.
 */
function plainView(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The engine's options for a range: unset bounds dropped (abstract-level would encode an `undefined`
 * bound as a key), and no limit (`batches` keeps it, see there).
 */
function levelRange(range: KeyRange): KeyRange {
  const out: KeyRange = {};
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) {
    const bound = range[k];
    if (bound !== undefined) out[k] = bound;
  }
  if (range.reverse !== undefined) out.reverse = range.reverse;
  return out;
}

/** A read on a closed database means we are shutting down: 503, not a 500 that looks like a bug. */
function mapError(err: unknown): unknown {
  if ((err as { code?: unknown })?.code === 'LEVEL_DATABASE_NOT_OPEN') {
    return wessError('UNAVAILABLE', 'the database is not open');
  }
  return err;
}

async function guard<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw mapError(err);
  }
}

async function* guardIterable<T>(it: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* it;
  } catch (err) {
    throw mapError(err);
  }
}
