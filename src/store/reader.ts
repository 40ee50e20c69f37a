import { LRUCache } from 'lru-cache';
import { wessError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Metrics } from '../metrics.js';
import { decodeRecord, sha256Hex } from './codec.js';
import type { Db } from './db.js';
import { blobKey, moduleKey, moduleRange } from './keys.js';
import type { ModulePage, ModuleRecord } from './types.js';

export interface ReaderOptions {
  db: Db;
  bus: EventBus;
  /** Module records kept in the cache. */
  cacheSize: number;
  /** Seconds an entry (record or content) stays cached. */
  ttlSeconds: number;
  /** Bytes of content kept in the cache; 64 MiB unless set. */
  contentCacheBytes?: number;
  metrics: Pick<Metrics, 'cacheHits' | 'cacheMisses'>;
}

export interface ListOptions {
  /** 1..100; the route validates it, the reader checks again. */
  limit: number;
  /** Opaque cursor from a previous page's next_cursor. */
  cursor?: string | null | undefined;
}

const DEFAULT_CONTENT_CACHE_BYTES = 64 * 1024 * 1024;
const MAX_PAGE = 100;

/**
 * Reads modules and content through two LRU caches, invalidated by the writer's events.
 * Records handed out are deep-frozen (shared by every caller of the cache); content is copied,
 * because a caller that transfers the bytes to a worker would otherwise detach the cached buffer.
 */
export class Reader {
  readonly #db: Db;
  readonly #metrics: ReaderOptions['metrics'];
  readonly #modules: LRUCache<string, ModuleRecord>;
  readonly #content: LRUCache<string, Uint8Array>;
  readonly #unsubscribe: Array<() => void>;
  /**
   * Bumped by every module event. A cache miss only stores what it read if no event came in
   * meanwhile: otherwise a read that started before a write could cache the old record after
   * the write's invalidation, and a read after the acknowledged write would see stale data.
   */
  #generation = 0;

  constructor(options: ReaderOptions) {
    this.#db = options.db;
    this.#metrics = options.metrics;
    const ttl = options.ttlSeconds * 1000;
    this.#modules = new LRUCache({ max: options.cacheSize, ttl });
    this.#content = new LRUCache({
      maxSize: options.contentCacheBytes ?? DEFAULT_CONTENT_CACHE_BYTES,
      sizeCalculation: (bytes) => Math.max(1, bytes.byteLength),
      ttl,
    });
    const invalidate = ({ id }: { id: string }): void => {
      this.#generation++;
      this.#modules.delete(id);
    };
    // Content entries are left alone: a hash names its bytes forever, so a cached blob can never be
    // wrong, only unreferenced; LRU and TTL reclaim it, and nothing asks for a hash no record names.
    this.#unsubscribe = [
      options.bus.on('module.created', invalidate),
      options.bus.on('module.updated', invalidate),
      options.bus.on('module.deleted', invalidate),
    ];
  }

  /** The module's current record (frozen), or undefined when there is none. */
  async getModule(id: string): Promise<ModuleRecord | undefined> {
    const cached = this.#modules.get(id);
    if (cached) {
      this.#metrics.cacheHits.inc({ cache: 'module' });
      return cached;
    }
    this.#metrics.cacheMisses.inc({ cache: 'module' });
    const generation = this.#generation;
    const bytes = await this.#db.get(moduleKey(id));
    if (!bytes) return undefined;
    const record = deepFreeze(decodeRecord(bytes));
    if (generation === this.#generation) this.#modules.set(id, record);
    return record;
  }

  /** One page of modules in id order; `next_cursor` is null on the last page. */
  async listModules(options: ListOptions): Promise<ModulePage> {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw wessError('VALIDATION', `limit must be an integer from 1 to ${MAX_PAGE}`);
    }
    const range = moduleRange();
    const after = options.cursor ? decodeCursor(options.cursor) : undefined;
    const items: ModuleRecord[] = [];
    let more = false;
    // One extra entry tells whether another page exists without a second query.
    const gt = after === undefined ? range.gt : moduleKey(after);
    for await (const [, value] of this.#db.entries({ ...range, gt, limit: limit + 1 })) {
      if (items.length === limit) {
        more = true;
        break;
      }
      items.push(decodeRecord(value));
    }
    const last = items[items.length - 1];
    return { items, next_cursor: more && last ? encodeCursor(last.id) : null };
  }

  /** The bytes whose sha256 is `sha256`, or undefined; CONTENT_CORRUPT if the stored bytes do not match. */
  async getContent(sha256: string): Promise<Uint8Array | undefined> {
    const cached = this.#content.get(sha256);
    if (cached) {
      this.#metrics.cacheHits.inc({ cache: 'content' });
      return cached.slice();
    }
    this.#metrics.cacheMisses.inc({ cache: 'content' });
    const bytes = await this.#db.get(blobKey(sha256));
    if (!bytes) return undefined;
    const actual = sha256Hex(bytes);
    if (actual !== sha256) {
      throw wessError('CONTENT_CORRUPT', `stored content for sha256 ${sha256} does not match its hash`, {
        sha256,
        actual_sha256: actual,
      });
    }
    this.#content.set(sha256, bytes);
    return bytes.slice();
  }

  /** Stops listening to writer events and empties the caches. */
  close(): void {
    for (const off of this.#unsubscribe) off();
    this.#modules.clear();
    this.#content.clear();
  }
}

/** Cursor for the page after `id`: opaque to clients, base64url of the last id they saw. */
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

/** Freezes a record and everything inside it, so a caller cannot change what the cache holds. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
