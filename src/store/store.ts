import type { Readable } from 'node:stream';
import type { BusEvent, EventBus } from '../events.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { AuditEntry, KeyRecord, KeyUsage } from '../auth/types.js';
import type { InvocationPage, TenantSettings, ModulePage, ModuleRecord, RouteRecord, VersionPage, VersionRecord, WriteMessage, WriteResult } from './types.js';
import type { BackupKey } from './backup-key.js';
import type { JobListOptions, JobPage, JobQueueStats, JobRecord, ScheduleListOptions, SchedulePage, ScheduleRecord } from './job-types.js';
import type { Inspected, ListOptions, ModuleListOptions, VerifyReport, WriterStats } from './types.js';
import type { WriteObserver } from './group-writer.js';
export type { WriteObserver };

/*
 * The store as the rest of Wess sees it: one interface per concern, all asynchronous, with no
 * engine's types (keys, ranges, snapshots, batches) in a signature. The LevelDB implementation is in
 * level/, the PostgreSQL one in postgres/. The caching Reader (reader.ts), the export's lines
 * (export.ts) and the verify report (verify.ts) are shared: an engine supplies only their reads.
 * Transactions stay behind them: a write is one typed message, acknowledged once it is durable.
 */

/** Every change to modules, keys, usage, audit and settings: typed messages, group-committed. */
export interface ModuleWriter {
  /** Modules stored, as of the last durable write. */
  readonly moduleCount: number;
  /** Queue state for /health and the shutdown drain. */
  stats(): WriterStats;
  /** Resolves with the message's result once it is durable; UNAVAILABLE when the queue is full or closing. */
  submit<K extends WriteMessage['kind']>(msg: Extract<WriteMessage, { kind: K }>): Promise<WriteResult[K]>;
  /** Refuses new writes, commits what is queued, resolves once it is durable. */
  close(): Promise<void>;
}

/** Modules, versions and content as routes read them (cached; kept current by the writer's events). */
export interface ModuleReader {
  /** Applies a new cache size and TTL (a config reload). */
  configure(settings: { cacheSize: number; ttlSeconds: number }): void;
  /** The module's record when it is cached, else undefined: lets a hot route skip a promise. */
  cachedModule(id: string): ModuleRecord | undefined;
  getModule(id: string): Promise<ModuleRecord | undefined>;
  getVersion(id: string, version: number): Promise<VersionRecord | undefined>;
  listVersions(id: string, options: ListOptions): Promise<VersionPage>;
  listModules(options: ModuleListOptions): Promise<ModulePage>;
  /** The bytes whose sha256 is `sha256`, or undefined; CONTENT_CORRUPT when they are damaged. */
  getContent(sha256: string): Promise<Uint8Array | undefined>;
  /** Bytes of content a tenant holds over all kept versions. */
  tenantBytes(tenant: string): Promise<number>;
}

/** Where a content-addressed blob (a files image) is read from, hashed and checked. */
export interface BlobSource {
  inspectBlob(sha256: string): Promise<Inspected>;
}

/** The whole-store operations beside reads and writes: counting, export, backup, verification. */
export interface ModuleStore extends BlobSource {
  /** Modules `tenant` owns, counted now. */
  countTenantModules(tenant: string): Promise<number>;
  /** An export's NDJSON lines (transfer.ts has the format), all from one consistent view of the store. */
  exportLines(options: { tenant?: string | undefined; modulesEstimate: number }, onModule?: (count: number) => void): AsyncIterable<string>;
  /**
   * A signed archive of the whole store, from one consistent view, while it keeps serving. Throws
   * BACKUP_UNSUPPORTED at once, before any byte, when the engine has no such archive: a stream that
   * failed later would reach the client after a 200.
   */
  backup(key: BackupKey): Readable;
  /** Reads back and hashes every stored version. */
  verify(): Promise<VerifyReport>;
}

/** API keys as stored; written through the writer's put-key and revoke-key messages. */
export interface KeyStore {
  /** Every key record, revoked ones included (the keyring holds them all in memory). */
  all(): Promise<KeyRecord[]>;
  /** One key's record, revoked or not; undefined when there is none. */
  get(id: string): Promise<KeyRecord | undefined>;
}

/** HTTP handler routes as stored; written through the writer's put-route and delete-route messages. */
export interface RouteStore {
  /** Every route of every tenant (src/http/route-table.ts holds them all in memory). */
  all(): Promise<RouteRecord[]>;
}

/** Tenants' own settings; written through the writer's put-tenant-settings message. */
export interface TenantSettingsStore {
  /** Every tenant that ever chose (src/observability/tenant-settings.ts holds them in memory). */
  all(): Promise<TenantSettings[]>;
}

/** The last calls of each module (a ring per module); written through the writer's append-invocations message. */
export interface InvocationStore {
  /**
   * One page, newest first, of a module's kept invocations older than `before` (a seq): all of them,
   * or those of one outcome, or those at or after `since` (ISO time).
   */
  page(module: string, options: { limit: number; before?: number | undefined; status?: 'ok' | 'error' | undefined; since?: string | undefined }): Promise<InvocationPage>;
}

/** Per-key usage counters as last flushed; written through the writer's put-usage message. */
export interface UsageStore {
  get(keyId: string): Promise<KeyUsage | undefined>;
}

export interface AuditPage {
  items: AuditEntry[];
  next_cursor: string | null;
}

/** The audit log; entries are written with the change they record (the writer's audit messages). */
export interface AuditStore {
  /** One page, newest first, of entries older than `before` (an entry id): every tenant's, or one tenant's. */
  page(options: { limit: number; before?: string | undefined; tenant?: string | undefined }): Promise<AuditPage>;
}

/** Server-wide settings the store keeps. */
export interface SettingsStore {
  /** The HMAC secret for key hashes generated at the first start, if one was stored. */
  serverSecret(): Promise<string | undefined>;
  /**
   * Stores the generated secret unless one is stored already; resolves, once it is durable, with the
   * secret now stored: another node starting at the same time may have stored its own first.
   */
  putServerSecret(secret: string): Promise<string>;
}

/** Jobs as routes and the job engine read them; written through the writer's job messages. */
export interface JobStore {
  get(id: string): Promise<JobRecord | undefined>;
  /** One page, oldest first, of a tenant's (or every tenant's) jobs, filtered by status and module. */
  list(options: JobListOptions): Promise<JobPage>;
  /** Jobs waiting to run, over every tenant. */
  queueStats(): Promise<JobQueueStats>;
  /** The tenant's webhook signing secret, or undefined when it has none. */
  webhookSecret(tenant: string): Promise<string | undefined>;
  getSchedule(id: string): Promise<ScheduleRecord | undefined>;
  /** One page, in id order, of a tenant's (or every tenant's) schedules. */
  listSchedules(options: ScheduleListOptions): Promise<SchedulePage>;
}

/** 'unavailable': a shared store's server cannot be reached; it goes back to 'open' by itself when it can. */
export type StoreStatus = 'opening' | 'open' | 'unavailable' | 'closing' | 'closed';

/**
 * One store, every concern. Module events go out on the app's bus once durable; a store shared by
 * several nodes also logs them and delivers every other node's on this node's bus, so caches, keys
 * and /events streams follow changes made anywhere.
 */
export interface Store {
  readonly writer: ModuleWriter;
  readonly reader: ModuleReader;
  readonly modules: ModuleStore;
  readonly keys: KeyStore;
  readonly routes: RouteStore;
  readonly usage: UsageStore;
  readonly invocations: InvocationStore;
  readonly tenantSettings: TenantSettingsStore;
  readonly audit: AuditStore;
  readonly settings: SettingsStore;
  readonly jobs: JobStore;
  /** 'open' while it can serve: readiness follows it. */
  readonly status: StoreStatus;
  /** Why the store is not open, for /health/ready; undefined when it is. */
  readonly problem: string | undefined;
  /** Which engine: 'leveldb' or 'postgres' (for /health and the refusals of what one of them cannot do). */
  readonly engine: 'leveldb' | 'postgres';
  /**
   * The last `limit` module and job events every node announced, oldest first, as the bus carried them (with
   * their shared numbers): what a node's /events replay window starts with. Absent where one node is
   * all there is (its window starts empty, and fills as it announces).
   */
  recentEvents?(limit: number): Promise<BusEvent[]>;
  /** Closes the writer (committing what is queued), then the engine. Close usage and denials first: they write. */
  close(): Promise<void>;
}

/** What a store needs from the app: events to announce changes on, metrics, a logger. */
export interface StoreDeps {
  bus: EventBus;
  metrics: Metrics;
  logger: Logger;
  /** Watches every write from submit to durable (tracing's store-commit spans); absent when nothing watches. */
  observeWrites?: WriteObserver | undefined;
}
