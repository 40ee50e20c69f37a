import type { Config, TierLimits } from '../config/schema.js';
import { wessError } from '../errors.js';
import { PAGE_BYTES } from '../wasm/types.js';
import { DEFAULT_TENANT, type KeyRecord, type Principal, type Role } from './types.js';

/** Everything a request can ask to do; a role may do exactly what it lists (deny by default). */
export type Action =
  | 'module.create'
  | 'module.read'
  | 'module.update'
  | 'module.delete'
  | 'module.run'
  | 'key.create'
  | 'key.list'
  | 'key.revoke'
  | 'key.usage'
  | 'route.read'
  | 'route.write'
  | 'tenant.settings'
  | 'audit.read'
  | 'store.backup'
  | 'store.export'
  | 'store.import'
  | 'store.verify'
  | 'webhook.secret';

const READ_AND_RUN: Action[] = ['module.read', 'module.run', 'key.usage', 'route.read'];
const DEVELOP: Action[] = [...READ_AND_RUN, 'route.write', 'tenant.settings', 'module.create', 'module.update', 'module.delete', 'key.list', 'key.revoke', 'webhook.secret'];

const ALLOWED: Record<Role, ReadonlySet<Action>> = {
  runner: new Set(READ_AND_RUN),
  developer: new Set(DEVELOP),
  // Backup, export, import and verification read or write every tenant's data at once.
  admin: new Set<Action>([...DEVELOP, 'key.create', 'audit.read', 'store.backup', 'store.export', 'store.import', 'store.verify']),
};

/** Who a request acts as while auth is disabled: an admin of the default tenant. */
export const OPEN_PRINCIPAL: Principal = Object.freeze({ keyId: null, role: 'admin', tenant: DEFAULT_TENANT, tier: null, modules: null });

/**
 * Managing keys needs a key of the whole tenant: one narrowed to named modules could otherwise
 * revoke its tenant's other keys or (as an admin) make unscoped ones.
 */
const KEY_MANAGEMENT: ReadonlySet<Action> = new Set<Action>(['key.create', 'key.list', 'key.revoke']);

/** The principal of an authenticated request, or FORBIDDEN when its role (or its module scope) may not do `action`. */
export function authorize(principal: Principal | null, action: Action): Principal {
  if (!principal) throw wessError('UNAUTHORIZED', 'this route needs an API key');
  if (!ALLOWED[principal.role].has(action)) {
    throw wessError('FORBIDDEN', `a ${principal.role} key may not do ${action}`, { role: principal.role, action });
  }
  if (principal.modules && KEY_MANAGEMENT.has(action)) {
    throw wessError('FORBIDDEN', `a key limited to named modules manages no keys (${action})`, { role: principal.role, action });
  }
  return principal;
}

/** A key limited to named modules reads only its own usage: the others' would be managing keys. */
export function checkUsageAccess(principal: Principal, keyId: string): void {
  if (principal.modules && keyId !== principal.keyId) {
    throw wessError('FORBIDDEN', 'a key limited to named modules may read only its own usage', { role: principal.role, action: 'key.usage' });
  }
}

/**
 * Checks that `principal` may touch module `record`. Another tenant's module answers exactly like a
 * missing one, so existence does not leak across tenants; a module outside a scoped key's list is
 * FORBIDDEN (the key's own tenant knows the module exists).
 */
export function checkModuleAccess(principal: Principal, record: { id: string; tenant: string }): void {
  if (principal.role !== 'admin' && record.tenant !== principal.tenant) {
    throw wessError('MODULE_NOT_FOUND', `no module with id ${record.id}`);
  }
  if (principal.modules && !principal.modules.has(record.id)) {
    throw wessError('FORBIDDEN', `this key is limited to ${principal.modules.size} named module(s), and ${record.id} is not one of them`);
  }
}

/** The tenant whose records a request acts on: its own, or for an admin the one it names (all when none). */
export function tenantScope(principal: Principal, requested: string | undefined): string | undefined {
  if (principal.role === 'admin') return requested;
  if (requested !== undefined && requested !== principal.tenant) {
    throw wessError('FORBIDDEN', 'only admin keys may name another tenant');
  }
  return principal.tenant;
}

/** The tenant a change must find its record in (checked again by the writer): the key's own, or any for an admin. */
export function tenantGuard(principal: Principal | null): string | undefined {
  return principal && principal.role !== 'admin' ? principal.tenant : undefined;
}

/** The limits that apply to one request: the global ones, lowered by the key's tier. */
export interface EffectiveLimits {
  tier: string | null;
  maxModuleSize: number;
  timeoutMs: number;
  maxMemoryPages: number;
  maxModules: number | undefined;
  /** Bytes of content the tenant may hold over all kept versions; undefined → no limit. */
  maxStorage: number | undefined;
  runsPerDay: number | undefined;
  requestsPerMinute: number | undefined;
  /** Calls of the tenant running at once; undefined → the pool size. */
  maxConcurrency: number | undefined;
  cpuMsPerMinute: number | undefined;
  maxFuel: number;
  /** Fuel of a run that asks for none; undefined → not metered. */
  defaultFuel: number | undefined;
  maxTableElements: number;
  /** /events streams the tenant may hold open at once; undefined → only server.max_event_clients. */
  maxEventStreams: number | undefined;
  /** Bytes of file contents (unpacked) a module version may carry. */
  maxFilesBytes: number;
  /** Entries (files, directories, symlinks) a module version's files may have. */
  maxFiles: number;
  /** Milliseconds a job may run (jobs.max_timeout, or the tier's max_job_timeout). */
  maxJobTimeoutMs: number;
  /** Jobs queued or running at once per tenant; undefined → no limit. */
  maxQueuedJobs: number | undefined;
  /** Schedules per tenant; undefined → no limit. */
  maxSchedules: number | undefined;
}

/** The tier a principal's limits come from: its own if configured, else auth.default_tier (a tier removed from the config). */
export function tierOf(config: Config, principal: Pick<Principal, 'tier'> | null): { name: string; limits: TierLimits } | null {
  const name = principal?.tier;
  if (name === null || name === undefined) return null;
  const own = config.tiers[name];
  if (own) return { name, limits: own };
  const fallback = config.auth.default_tier;
  const limits = fallback === undefined ? undefined : config.tiers[fallback];
  return fallback !== undefined && limits ? { name: fallback, limits } : null;
}

/** A tier can only lower a global limit: the global one is what the process enforces. */
function lower(tierValue: number | undefined, global: number): number {
  return tierValue === undefined ? global : Math.min(tierValue, global);
}

/**
 * Limits worked out once per config and tier: every run asks, and a config is frozen (a reload brings
 * a new object, so a stale entry is never read).
 */
const computed = new WeakMap<Config, Map<string | null, EffectiveLimits>>();

/** The limits that apply to a request made by `principal` under `config`. */
export function limitsFor(config: Config, principal: Pick<Principal, 'tier'> | null): EffectiveLimits {
  let byTier = computed.get(config);
  if (byTier === undefined) computed.set(config, (byTier = new Map()));
  const name = principal?.tier ?? null;
  let limits = byTier.get(name);
  if (limits === undefined) byTier.set(name, (limits = Object.freeze(computeLimits(config, principal))));
  return limits;
}

function computeLimits(config: Config, principal: Pick<Principal, 'tier'> | null): EffectiveLimits {
  const tier = tierOf(config, principal);
  const t = tier?.limits ?? {};
  return {
    tier: tier?.name ?? null,
    maxModuleSize: lower(t.max_module_size, config.limits.max_module_size),
    timeoutMs: lower(t.max_timeout, config.runner.timeout),
    maxMemoryPages: Math.floor(lower(t.max_memory, config.runner.max_memory) / PAGE_BYTES),
    maxModules: t.max_modules,
    maxStorage: t.max_storage,
    runsPerDay: t.runs_per_day,
    requestsPerMinute: t.requests_per_minute,
    maxConcurrency: t.max_concurrency,
    cpuMsPerMinute: t.cpu_ms_per_minute,
    maxFuel: lower(t.max_fuel, config.limits.max_fuel),
    defaultFuel: t.default_fuel === undefined ? undefined : lower(t.default_fuel, config.limits.max_fuel),
    maxTableElements: lower(t.max_table_elements, config.limits.max_table_elements),
    maxEventStreams: t.max_event_streams,
    maxFilesBytes: lower(t.max_files_bytes, config.limits.max_files_bytes),
    maxFiles: lower(t.max_files, config.limits.max_files),
    maxJobTimeoutMs: t.max_job_timeout ?? config.jobs.max_timeout,
    maxQueuedJobs: t.max_queued_jobs,
    maxSchedules: t.max_schedules,
  };
}

/**
 * The limits of a tenant, for an admin acting in it (an upload with ?tenant=, a change to one of its
 * modules, an import): no more than its own keys could do. `keyTiers` are the tiers of its keys that
 * are not revoked; per limit the most generous of them applies (a key without a tier has the global
 * limits). A tenant without keys gets what a key made for it would get: auth.default_tier.
 */
export function tenantLimits(config: Config, keyTiers: ReadonlyArray<string | null>): EffectiveLimits {
  const tiers = keyTiers.length > 0 ? [...new Set(keyTiers)] : [config.auth.default_tier ?? null];
  if (tiers.includes(null)) return limitsFor(config, { tier: null });
  return tiers.map((tier) => limitsFor(config, { tier })).reduce(mostGenerous);
}

function mostGenerous(a: EffectiveLimits, b: EffectiveLimits): EffectiveLimits {
  // undefined is "no limit", the most generous of all.
  const most = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? undefined : Math.max(x, y));
  return {
    tier: a.tier === b.tier ? a.tier : `${a.tier ?? 'none'}+${b.tier ?? 'none'}`,
    maxModuleSize: Math.max(a.maxModuleSize, b.maxModuleSize),
    timeoutMs: Math.max(a.timeoutMs, b.timeoutMs),
    maxMemoryPages: Math.max(a.maxMemoryPages, b.maxMemoryPages),
    maxModules: most(a.maxModules, b.maxModules),
    maxStorage: most(a.maxStorage, b.maxStorage),
    runsPerDay: most(a.runsPerDay, b.runsPerDay),
    requestsPerMinute: most(a.requestsPerMinute, b.requestsPerMinute),
    maxConcurrency: most(a.maxConcurrency, b.maxConcurrency),
    cpuMsPerMinute: most(a.cpuMsPerMinute, b.cpuMsPerMinute),
    maxFuel: Math.max(a.maxFuel, b.maxFuel),
    defaultFuel: most(a.defaultFuel, b.defaultFuel),
    maxTableElements: Math.max(a.maxTableElements, b.maxTableElements),
    maxEventStreams: most(a.maxEventStreams, b.maxEventStreams),
    maxFilesBytes: Math.max(a.maxFilesBytes, b.maxFilesBytes),
    maxFiles: Math.max(a.maxFiles, b.maxFiles),
    maxJobTimeoutMs: Math.max(a.maxJobTimeoutMs, b.maxJobTimeoutMs),
    maxQueuedJobs: most(a.maxQueuedJobs, b.maxQueuedJobs),
    maxSchedules: most(a.maxSchedules, b.maxSchedules),
  };
}

/** " (tier free)" for messages about a limit, or "" when the limit is the global one. */
export function tierSuffix(tier: string | null | undefined): string {
  return tier ? ` (tier ${tier})` : '';
}

/** The principal of a request made with `key`. */
export function principalOf(key: KeyRecord): Principal {
  let principal = principals.get(key);
  if (principal === undefined) {
    principal = Object.freeze({ keyId: key.id, role: key.role, tenant: key.tenant, tier: key.tier, modules: key.modules ? new Set(key.modules) : null });
    principals.set(key, principal);
  }
  return principal;
}

/**
 * Principals by key record, made once per record and not per request (a Set of its modules included):
 * a changed key is a new record, so a stale principal is never handed out.
 */
const principals = new WeakMap<KeyRecord, Principal>();
