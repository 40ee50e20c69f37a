import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../../config/schema.js';
import type { BusEvent, EventTopic, ModuleEvents } from '../../events.js';
import { GroupWriter } from '../group-writer.js';
import { Reader } from '../reader.js';
import type { AuditStore, InvocationStore, JobStore, KeyStore, ModuleStore, RouteStore, SettingsStore, Store, StoreDeps, StoreStatus, TenantSettingsStore, UsageStore } from '../store.js';
import { PgAuditStore } from './audit-store.js';
import { connectPool } from './connect.js';
import { isConnectionError } from './errors.js';
import { PgJobStore } from './job-store.js';
import { PgKeyStore } from './keys-store.js';
import { PgRouteStore } from './routes-store.js';
import { PgInvocationStore } from './invocations-store.js';
import { PgTenantSettingsStore } from './tenant-settings-store.js';
import { EventListener } from './listener.js';
import { migrate } from './migrate.js';
import { PgModuleStore } from './module-store.js';
import { PgRecordSource } from './record-source.js';
import { PgSettingsStore } from './settings-store.js';
import { PgUsageStore } from './usage-store.js';
import { PgCommitter } from './writer.js';
import { redactUrl } from '../url.js';

/**
 * The shared store: PostgreSQL (database.url) as the system of record for every node. Each node
 * group-commits its own queue in transactions (writer.ts), reads through the same caching Reader as
 * LevelDB, and hears every other node's changes through the event log (listener.ts).
 */
class PgStore implements Store {
  readonly engine = 'postgres';
  readonly modules: ModuleStore;
  readonly keys: KeyStore;
  readonly routes: RouteStore;
  readonly usage: UsageStore;
  readonly invocations: InvocationStore;
  readonly tenantSettings: TenantSettingsStore;
  readonly audit: AuditStore;
  readonly settings: SettingsStore;
  readonly jobs: JobStore;
  listener: EventListener | undefined;
  #status: StoreStatus = 'opening';
  #problem: string | undefined = 'opening';

  constructor(
    readonly pool: pg.Pool,
    readonly writer: GroupWriter,
    readonly reader: Reader,
  ) {
    this.modules = new PgModuleStore(pool);
    this.keys = new PgKeyStore(pool);
    this.routes = new PgRouteStore(pool);
    this.usage = new PgUsageStore(pool);
    this.invocations = new PgInvocationStore(pool);
    this.tenantSettings = new PgTenantSettingsStore(pool);
    this.audit = new PgAuditStore(pool);
    this.settings = new PgSettingsStore(pool);
    this.jobs = new PgJobStore(pool);
  }

  get status(): StoreStatus {
    return this.#status;
  }

  get problem(): string | undefined {
    return this.#problem;
  }

  /** The listener's connection says whether the server is reachable: it is the one connection always held. */
  reachable(problem: string | undefined): void {
    if (this.#status === 'closing' || this.#status === 'closed') return;
    this.#status = problem === undefined ? 'open' : 'unavailable';
    this.#problem = problem;
  }

  async recentEvents(limit: number): Promise<BusEvent[]> {
    const res = await this.pool.query<{ seq: string; topic: EventTopic; tenant_seq: string | null; payload: ModuleEvents[EventTopic]; at: Date }>(
      `SELECT seq, topic, tenant_seq, payload, at FROM (
         SELECT seq, topic, tenant_seq, payload, at FROM wess_events WHERE topic LIKE 'module.%' OR topic LIKE 'job.%' ORDER BY seq DESC LIMIT $1
       ) recent ORDER BY seq`,
      [limit],
    );
    return res.rows.map((row) => {
      const origin = row.tenant_seq === null ? { seq: Number(row.seq) } : { seq: Number(row.seq), tenantSeq: Number(row.tenant_seq) };
      return { ...row.payload, topic: row.topic, seq: 0, at: row.at.toISOString(), origin } as BusEvent;
    });
  }

  async close(): Promise<void> {
    this.#status = 'closing';
    this.#problem = 'the store is closing';
    try {
      await this.writer.close();
      await this.listener?.close();
      this.reader.close();
    } finally {
      await this.pool.end();
      this.#status = 'closed';
      this.#problem = 'the store is closed';
    }
  }
}

/**
 * Connects, migrates the schema under the advisory lock (nodes starting together take turns), and
 * starts the writer and the event listener. A database that cannot be reached at start fails the
 * start (with the reason): a node that never saw the schema cannot know what it would write.
 */
export async function openPgStore(config: Config, deps: StoreDeps): Promise<Store> {
  const { bus, metrics, logger } = deps;
  const url = config.database.url as string;
  const pool = connectPool({
    url,
    max: config.database.pool_size,
    onIdleError: (err) => logger.warn({ err }, 'an idle PostgreSQL connection failed; the pool replaces it'),
  });
  try {
    const applied = await migrate(pool);
    if (applied.length > 0) logger.info({ migrations: applied }, 'PostgreSQL schema migrated');
    const count = await pool.query<{ count: string }>('SELECT count(*) AS count FROM wess_modules');
    const node = randomUUID();
    const committer = new PgCommitter(pool, node, config.limits.max_versions, logger);
    const writer = new GroupWriter({ committer, bus, metrics, logger, observe: deps.observeWrites, queueLimit: config.database.queue_limit, moduleCount: Number(count.rows[0]?.count ?? 0) });
    const reader = new Reader({ source: new PgRecordSource(pool), bus, metrics, cacheSize: config.reader.cache_size, ttlSeconds: config.reader.ttl });
    const store = new PgStore(pool, writer, reader);
    store.listener = await EventListener.start({
      url,
      pool,
      bus,
      logger,
      node,
      onReachable: (problem) => {
        if (problem !== undefined && store.status === 'open') logger.warn({ problem }, 'PostgreSQL is unreachable: writes and uncached reads answer 503 until it is back');
        if (problem === undefined && store.status === 'unavailable') logger.info('PostgreSQL is reachable again');
        store.reachable(problem);
      },
      onModuleDelta: (delta) => writer.recount(writer.moduleCount + delta),
    });
    return store;
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw isConnectionError(err) ? new Error(`cannot reach PostgreSQL at ${redactUrl(url)} (database.url / WESS_DATABASE_URL): ${(err as Error).message}`, { cause: err }) : err;
  }
}
