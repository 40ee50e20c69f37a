import { LRUCache } from 'lru-cache';
import { wessError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { CounterSeries } from '../metric-fronts.js';
import type { Metrics } from '../metrics.js';
import { versionSummary } from './records.js';
import type { ModuleReader } from './store.js';
import { MAX_VERSION, type Inspected, type ModulePage, type ModuleRecord, type VersionPage, type VersionRecord } from './types.js';
import type { ListOptions, ModuleListOptions } from './types.js';

/**
 * What an engine answers for the reader: uncached reads of what the writer last made durable. The
 * caches, cursors, freezing and invalidation are the Reader's, the same for every engine.
 */
export interface RecordSource {
  /** The module's current record, or undefined. */
  module(id: string): Promise<ModuleRecord | undefined>;
  /** One version of a module, or undefined. */
  version(id: string, version: number): Promise<VersionRecord | undefined>;
  /** Up to `limit` versions of `id`, newest first, all below `beforeVersion` when it is set; none when the module does not exist. */
  versionsPage(id: string, page: { limit: number; beforeVersion: number | undefined }): Promise<VersionRecord[]>;
  /**
   * Up to `limit` module records in id order (byte order, as cursors compare), all after `after` when
   * it is set: every tenant's or one `tenant`'s, and only the ids in `only` when it is set.
   */
  modulesPage(page: { limit: number; after: string | undefined; tenant: string | undefined; only: ReadonlySet<string> | undefined }): Promise<ModuleRecord[]>;
  /** The blob stored under `sha256`, read and hashed: its bytes, or what is wrong with them. */
  blob(sha256: string): Promise<Inspected>;
  /** Bytes of content `tenant` holds over all kept versions (0 when none). */
  tenantBytes(tenant: string): Promise<number>;
}

export interface ReaderOptions {
  source: RecordSource;
  bus: EventBus;
  /** Module records kept in the cache (and, separately, as many version records). */
  cacheSize: number;
  /** Seconds an entry (record or content) stays cached. */
  ttlSeconds: number;
  /** Bytes of content kept in the cache; 64 MiB unless set. */
  contentCacheBytes?: number;
  metrics: Pick<Metrics, 'cacheHitsFront' | 'cacheMissesFront'>;
}


type CacheName = 'module' | 'version' | 'content';

const DEFAULT_CONTENT_CACHE_BYTES = 64 * 1024 * 1024;
const MAX_PAGE = 100;

/**
 * Reads modules, versions and content through LRU caches, invalidated by the writer's events.
 * Records handed out are deep-frozen (shared by every caller of the cache); content is copied,
 * because a caller that transfers the bytes to a worker would otherwise detach the cached buffer.
 */
export class Reader implements ModuleReader {
  readonly #source: RecordSource;
  /** Hits and misses per cache, bound once: a module lookup is on every request's path. */
  readonly #counts: Record<'hit' | 'miss', Record<CacheName, CounterSeries<'cache'>>>;
  readonly #contentCacheBytes: number;
  // Replaced whole (not resized) by configure(): lru-cache fixes max and the default TTL at construction.
  #modules!: LRUCache<string, ModuleRecord>;
  /** Keyed by versionCacheKey. Versions never change, so only pruning or a delete invalidates them. */
  #versions!: LRUCache<string, VersionRecord>;
  #content!: LRUCache<string, Uint8Array>;
  #cacheSize = 0;
  #ttlSeconds = 0;
  readonly #unsubscribe: Array<() => void>;
  /**
   * Bumped by every module event. A cache miss only stores what it read if no event came in
   * meanwhile: otherwise a read that started before a write could cache the old record after
   * the write's invalidation, and a read after the acknowledged write would see stale data.
   */
  #generation = 0;

  constructor(options: ReaderOptions) {
    this.#source = options.source;
    const { cacheHitsFront: hits, cacheMissesFront: misses } = options.metrics;
    const bound = (front: typeof hits) => ({ module: front.series({ cache: 'module' }), version: front.series({ cache: 'version' }), content: front.series({ cache: 'content' }) });
    this.#counts = { hit: bound(hits), miss: bound(misses) };
    this.#contentCacheBytes = options.contentCacheBytes ?? DEFAULT_CONTENT_CACHE_BYTES;
    this.configure({ cacheSize: options.cacheSize, ttlSeconds: options.ttlSeconds });
    const invalidate = ({ id }: { id: string }): void => {
      this.#generation++;
      this.#modules.delete(id);
    };
    // Content entries are left alone: a hash names its bytes forever, so a cached blob can never be
    // wrong, only unreferenced; LRU and TTL reclaim it, and nothing asks for a hash no record names.
    this.#unsubscribe = [
      options.bus.on('module.created', invalidate),
      options.bus.on('module.updated', (event) => {
        invalidate(event);
        for (const version of event.pruned_versions ?? []) this.#versions.delete(versionCacheKey(event.id, version));
      }),
      options.bus.on('module.deleted', (event) => {
        invalidate(event);
        this.#forgetVersions(event.id);
      }),
    ];
  }

  /**
   * Applies a new cache size and TTL (a config reload). A change empties the caches: entries cached
   * under the old TTL would otherwise outlive a shorter new one. Unchanged settings keep them.
   */
  configure(settings: { cacheSize: number; ttlSeconds: number }): void {
    if (settings.cacheSize === this.#cacheSize && settings.ttlSeconds === this.#ttlSeconds) return;
    this.#cacheSize = settings.cacheSize;
    this.#ttlSeconds = settings.ttlSeconds;
    const ttl = settings.ttlSeconds * 1000;
    this.#modules = new LRUCache({ max: settings.cacheSize, ttl });
    this.#versions = new LRUCache({ max: settings.cacheSize, ttl });
    this.#content = new LRUCache({ maxSize: this.#contentCacheBytes, sizeCalculation: (bytes) => Math.max(1, bytes.byteLength), ttl });
  }

  /**
   * The module's record when it is cached (counted as a hit), else undefined (nothing counted: call
   * getModule, which counts the miss). Lets a hot route skip a promise per cached read.
   */
  cachedModule(id: string): ModuleRecord | undefined {
    const cached = this.#modules.get(id);
    if (cached) this.#counts.hit.module.add();
    return cached;
  }

  /** The module's current record (frozen), or undefined when there is none. */
  async getModule(id: string): Promise<ModuleRecord | undefined> {
    const cached = this.cachedModule(id);
    if (cached) return cached;
    this.#counts.miss.module.add();
    const generation = this.#generation;
    const read = await this.#source.module(id);
    if (!read) return undefined;
    const record = deepFreeze(read);
    if (generation === this.#generation) this.#modules.set(id, record);
    return record;
  }

  /** One version of a module (frozen), or undefined when the module or that version does not exist. */
  async getVersion(id: string, version: number): Promise<VersionRecord | undefined> {
    const key = versionCacheKey(id, version);
    const cached = this.#versions.get(key);
    if (cached) {
      this.#counts.hit.version.add();
      return cached;
    }
    this.#counts.miss.version.add();
    const generation = this.#generation;
    const read = await this.#source.version(id, version);
    if (!read) return undefined;
    const record = deepFreeze(read);
    // Same race as getModule: a delete acknowledged during this read must not leave the version cached.
    if (generation === this.#generation) this.#versions.set(key, record);
    return record;
  }

  /** One page of a module's versions, newest first; empty when the module does not exist. */
  async listVersions(id: string, options: ListOptions): Promise<VersionPage> {
    const { limit } = options;
    checkLimit(limit);
    const beforeVersion = options.cursor ? decodeVersionCursor(options.cursor) : undefined;
    // One extra version tells whether another page exists without a second query.
    const read = await this.#source.versionsPage(id, { limit: limit + 1, beforeVersion });
    const items = read.slice(0, limit).map(versionSummary);
    const more = read.length > limit;
    const last = items[items.length - 1];
    return { items, next_cursor: more && last ? encodeCursor(String(last.version)) : null };
  }

  /** One page of modules in id order; `next_cursor` is null on the last page. */
  async listModules(options: ModuleListOptions): Promise<ModulePage> {
    const { limit, only } = options;
    checkLimit(limit);
    const after = options.cursor ? decodeCursor(options.cursor) : undefined;
    // One extra record tells whether another page exists without a second query.
    const read = await this.#source.modulesPage({ limit: limit + 1, after, tenant: options.tenant, only: only ?? undefined });
    const items = read.slice(0, limit);
    const more = read.length > limit;
    const last = items[items.length - 1];
    return { items, next_cursor: more && last ? encodeCursor(last.id) : null };
  }

  /** The bytes whose sha256 is `sha256`, or undefined; CONTENT_CORRUPT if the stored bytes are damaged or do not match. */
  async getContent(sha256: string): Promise<Uint8Array | undefined> {
    const cached = this.#content.get(sha256);
    if (cached) {
      this.#counts.hit.content.add();
      return cached.slice();
    }
    this.#counts.miss.content.add();
    const content = await this.#source.blob(sha256);
    if (!content.ok) {
      if (content.problem === 'missing') return undefined;
      throw wessError('CONTENT_CORRUPT', content.message, { sha256 });
    }
    this.#content.set(sha256, content.bytes);
    return content.bytes.slice();
  }

  /** Bytes of content `tenant` holds over all kept versions; read each time (every write changes it), never cached. */
  tenantBytes(tenant: string): Promise<number> {
    return this.#source.tenantBytes(tenant);
  }

  /** Stops listening to writer events and empties the caches. */
  close(): void {
    for (const off of this.#unsubscribe) off();
    this.#modules.clear();
    this.#versions.clear();
    this.#content.clear();
  }

  /** Drops every cached version of `id`: a scan, but deletes are rare and the cache is small. */
  #forgetVersions(id: string): void {
    const prefix = versionCacheKey(id, '');
    const stale = [...this.#versions.keys()].filter((key) => key.startsWith(prefix));
    for (const key of stale) this.#versions.delete(key);
  }
}

/** A version's cache key: a module id never holds a NUL, so `${id}\0` prefixes exactly that module's versions. */
function versionCacheKey(id: string, version: number | ''): string {
  return `${id}\u0000${version}`;
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw wessError('VALIDATION', `limit must be an integer from 1 to ${MAX_PAGE}`);
  }
}

/** Cursor for the page after `id` (or a version): opaque to clients, base64url of the last one they saw. */
function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/** The id inside a cursor; VALIDATION when it is not one we could have made. */
function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  // Node's base64 decoder skips junk silently, so round-trip to reject anything we did not emit.
  if (id.length === 0 || encodeCursor(id) !== cursor) throw wessError('VALIDATION', 'cursor is not valid');
  return id;
}

/** The version inside a versions cursor; VALIDATION when it is not one we could have made. */
function decodeVersionCursor(cursor: string): number {
  const text = decodeCursor(cursor);
  const version = Number(text);
  if (!/^[1-9][0-9]*$/.test(text) || version > MAX_VERSION) throw wessError('VALIDATION', 'cursor is not valid');
  return version;
}

/** Freezes a record and everything inside it, so a caller cannot change what the cache holds. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
