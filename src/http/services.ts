import type { AuditDraft } from '../auth/audit.js';
import type { CpuBudget } from '../auth/cpu-budget.js';
import type { DenialLog } from '../auth/denials.js';
import type { Keyring } from '../auth/keyring.js';
import type { Principal } from '../auth/types.js';
import type { UsageTracker } from '../auth/usage.js';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Runner } from '../runner/pool.js';
import type { Db } from '../store/db.js';
import type { Reader } from '../store/reader.js';
import type { StoreHealth } from '../store/store-health.js';
import type { Writer } from '../store/writer.js';

/** Everything a route may use; built once by app.ts and passed down, never imported globally. */
export interface Services {
  /**
   * The config in force. A reload (config/reload.ts) swaps in a new frozen object, so read it when
   * a request needs it: a value copied out at registration would miss the reload.
   */
  config: Config;
  /** The root logger; a reload sets its level, which every child (app.log, request.log) follows. */
  logger: Logger;
  metrics: Metrics;
  bus: EventBus;
  db: Db;
  writer: Writer;
  reader: Reader;
  runner: Runner;
  /** Every API key, in memory, kept current by the writer's key events. */
  keyring: Keyring;
  /** Per-key counters and the daily run quota. */
  usage: UsageTracker;
  /** Requests refused for want of a valid key, counted per IP, reason and minute for the audit log. */
  denials: DenialLog;
  /** Per-tenant CPU time against the tiers' cpu_ms_per_minute. */
  cpuBudget: CpuBudget;
  /** Damaged content found by reads and by the last verification (/health, GET /admin/verify). */
  storeHealth: StoreHealth;
  /** Flipped when shutdown starts: readiness fails and new requests get 503. */
  lifecycle: { closing: boolean; startedAt: number };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's components, for main.ts, health checks and tests. */
    services: Services;
  }
  interface FastifyRequest {
    /** The module a request is about, for the access log line. */
    moduleId: string | null;
    /** Who the request acts as; set by the auth hook before anything else reads it (null only on open routes). */
    principal: Principal | null;
    /** Set by routes that change something: what the audit log records for this request. */
    audit: AuditDraft | null;
    /** True once the route's audit entry went to disk with its change. */
    auditWritten: boolean;
    /** Why the auth hook refused the request (no valid key): the DenialLog counts it, so it owes no audit entry of its own. */
    authDenial: string | null;
    /** Counted in an aggregate (a denial after the first of its IP, reason and minute): no access line of its own. */
    aggregated: boolean;
  }
}
