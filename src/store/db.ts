import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import { wessError } from '../errors.js';

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
}

type Level = ClassicLevel<string, Uint8Array>;

/** Opens (creating when missing) the LevelDB database at `path`. */
export async function openDb(path: string, options: OpenDbOptions): Promise<Db> {
  await mkdir(path, { recursive: true });
  const level: Level = new ClassicLevel<string, Uint8Array>(path, {
    keyEncoding: 'utf8',
    // 'view' hands back plain Uint8Arrays: no Buffer-specific API leaks above this facade.
    valueEncoding: 'view',
    maxOpenFiles: options.maxOpenFiles,
  });
  try {
    await level.open();
  } catch (err) {
    // The engine's message ("Database failed to open") hides the useful part (e.g. LOCK held) in its cause.
    const cause = (err as { cause?: { message?: string } }).cause;
    throw new Error(`cannot open database at ${path}: ${cause?.message ?? (err as Error).message}`, { cause: err });
  }
  return new LevelDb(level);
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

  async *entries(range: KeyRange): AsyncIterable<[string, Uint8Array]> {
    for await (const [key, value] of guardIterable(this.level.iterator({ ...levelRange(range), ...this.#at }))) {
      yield [key, plainView(value)];
    }
  }

  async *keys(range: KeyRange): AsyncIterable<string> {
    yield* guardIterable(this.level.keys({ ...levelRange(range), ...this.#at }));
  }
}

class LevelDb extends LevelReader implements Db {
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

  close(): Promise<void> {
    return this.level.close();
  }
}

/**
 * The engine hands back Buffers; a plain Uint8Array over the same memory (no copy) keeps Buffer's
 * surprises (e.g. `slice()` sharing memory instead of copying) from leaking above the facade.
 */
function plainView(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Drops unset bounds: abstract-level would encode an `undefined` bound as a key. */
function levelRange(range: KeyRange): KeyRange {
  const out: KeyRange = {};
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) {
    const bound = range[k];
    if (bound !== undefined) out[k] = bound;
  }
  if (range.limit !== undefined) out.limit = range.limit;
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
