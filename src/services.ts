import type { CpuBudget } from './auth/cpu-budget.js';
import type { DenialLog } from './auth/denials.js';
import type { Keyring } from './auth/keyring.js';
import type { UsageTracker } from './auth/usage.js';
import type { Config } from './config/schema.js';
import type { EventBus } from './events.js';
import type { ImageCache } from './files/image-cache.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Runner } from './runner/pool.js';
import type { Store } from './store/index.js';
import type { StoreHealth } from './store/store-health.js';
import type { Tracing } from './tracing/tracing.js';
import type { InvocationLog } from './observability/invocation-log.js';
import type { TenantSettingsTable } from './observability/tenant-settings.js';
import type { GuestOutput } from './observability/guest-output.js';

/** Everything a route (and a config reload) may use; built once by app.ts and passed down, never imported globally. */
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
  /** Every stored concern (modules, keys, usage, audit, settings) behind one engine-neutral facade. */
  store: Store;
  runner: Runner;
  /** Every API key, in memory, kept current by the writer's key events. */
  keyring: Keyring;
  /** Per-key counters and the daily run quota. */
  usage: UsageTracker;
  /** Requests refused for want of a valid key, counted per IP, reason and minute for the audit log. */
  denials: DenialLog;
  /** Per-tenant CPU time against the tiers' cpu_ms_per_minute. */
  cpuBudget: CpuBudget;
  /** Versions' files images as WASI runs get them, one cache for /run and the HTTP handlers. */
  images: ImageCache;
  /** Damaged content found by reads and by the last verification (/health, GET /admin/verify). */
  storeHealth: StoreHealth;
  /** Flipped when shutdown starts: readiness fails and new requests get 503. */
  lifecycle: { closing: boolean; startedAt: number };
  /** OpenTelemetry, when tracing.endpoint is set. */
  tracing: Tracing | undefined;
  /** Every module's last calls (GET /modules/{id}/invocations), written a second at a time. */
  invocations: InvocationLog;
  /** Every tenant's own settings (PUT /settings), in memory. */
  tenantSettings: TenantSettingsTable;
  /** Guest stderr lines to the log, rate-limited per tenant. */
  guestOutput: GuestOutput;
}
