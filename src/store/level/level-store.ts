import type { Config } from '../../config/schema.js';
import { openDb, type Db } from './db.js';
import { Reader } from '../reader.js';
import { LevelRecordSource } from './record-source.js';
import type { AuditStore, InvocationStore, JobStore, KeyStore, ModuleStore, RouteStore, SettingsStore, Store, StoreDeps, StoreStatus, TenantSettingsStore, UsageStore } from '../store.js';
import { Writer } from './writer.js';
import type { GroupWriter } from '../group-writer.js';
import { LevelAuditStore } from './audit-store.js';
import { LevelJobStore } from './job-store.js';
import { LevelKeyStore } from './keys-store.js';
import { LevelModuleStore } from './module-store.js';
import { LevelRouteStore } from './routes-store.js';
import { LevelInvocationStore } from './invocations-store.js';
import { LevelTenantSettingsStore } from './tenant-settings-store.js';
import { LevelSettingsStore } from './settings-store.js';
import { LevelUsageStore } from './usage-store.js';


/** The embedded store: one LevelDB directory (database.path), one writer, one reader. */
class LevelStore implements Store {
  readonly modules: ModuleStore;
  readonly keys: KeyStore;
  readonly routes: RouteStore;
  readonly usage: UsageStore;
  readonly invocations: InvocationStore;
  readonly tenantSettings: TenantSettingsStore;
  readonly audit: AuditStore;
  readonly settings: SettingsStore;
  readonly jobs: JobStore;

  constructor(
    readonly db: Db,
    readonly writer: GroupWriter,
    readonly reader: Reader,
  ) {
    this.modules = new LevelModuleStore(db);
    this.keys = new LevelKeyStore(db);
    this.routes = new LevelRouteStore(db);
    this.usage = new LevelUsageStore(db);
    this.invocations = new LevelInvocationStore(db);
    this.tenantSettings = new LevelTenantSettingsStore(db);
    this.audit = new LevelAuditStore(db);
    this.settings = new LevelSettingsStore(db, writer);
    this.jobs = new LevelJobStore(db);
  }

  readonly engine = 'leveldb';

  get status(): StoreStatus {
    return this.db.status;
  }

  get problem(): string | undefined {
    return this.db.status === 'open' ? undefined : `the database is ${this.db.status}`;
  }

  async close(): Promise<void> {
    await this.writer.close();
    await this.db.close();
  }
}

/** Opens the data directory (locking it for this process), migrates its schema and starts the writer. */
export async function openLevelStore(config: Config, deps: StoreDeps): Promise<Store> {
  const { bus, metrics, logger } = deps;
  const db = await openDb(config.database.path, { maxOpenFiles: config.database.max_open_files, pidFile: true });
  let writer: GroupWriter;
  try {
    writer = await Writer.start({ db, bus, metrics, logger, observe: deps.observeWrites, queueLimit: config.database.queue_limit, maxVersions: config.limits.max_versions });
  } catch (err) {
    await db.close();
    throw err;
  }
  const reader = new Reader({ source: new LevelRecordSource(db), bus, metrics, cacheSize: config.reader.cache_size, ttlSeconds: config.reader.ttl });
  return new LevelStore(db, writer, reader);
}

/**
 * The LevelDB under a store, for tests that check the key layout itself (test/store/level.ts).
 * Nothing in src/ calls it: code outside src/store/ sees only the Store interfaces.
 */
export function levelDbOf(store: Store): Db {
  if (!(store instanceof LevelStore)) throw new Error('this store is not the LevelDB one');
  return store.db;
}
