/** What a key may do; deny by default, each role a strict subset of the one above it. */
export const ROLES = ['admin', 'developer', 'runner'] as const;
export type Role = (typeof ROLES)[number];

/** The tenant of every module made while auth is disabled, and of the bootstrap admin key. */
export const DEFAULT_TENANT = 'default';

/** Tenants name a namespace of modules: short, lowercase, safe in store keys and URLs. */
export const TENANT_FORMAT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** An API key as stored under `k!<id>`: never the secret, only its HMAC. */
export interface KeyRecord {
  /** The public part of `wess_<id>_<secret>`; names the key in URLs, logs and the audit log. */
  id: string;
  name: string;
  role: Role;
  tenant: string;
  /** A `[tiers.<name>]` of the config, or null for "only the global limits". */
  tier: string | null;
  /** Module ids this key is limited to, or null for every module of its tenant. */
  modules: string[] | null;
  /** HMAC-SHA256 (hex) of `<id>.<secret>` under the server secret. */
  hash: string;
  created_at: string;
  /** The key id that created it; null for the bootstrap admin key. */
  created_by: string | null;
  revoked_at: string | null;
}

/** A key as the API shows it: everything but the hash. */
export type KeyView = Omit<KeyRecord, 'hash'>;

/** Who is making a request, as the auth hook resolved it. */
export interface Principal {
  /** Null when auth is disabled: the request acts as an admin of the default tenant. */
  keyId: string | null;
  role: Role;
  tenant: string;
  tier: string | null;
  /** Module ids the key is limited to, or null for its whole tenant. */
  modules: ReadonlySet<string> | null;
}

/** Counters kept per key under `u!<id>`; runs_today resets when `day` (UTC, YYYY-MM-DD) changes. */
export interface KeyUsage {
  runs: number;
  errors: number;
  /** Milliseconds of guest CPU time on workers for this key. */
  cpu_ms: number;
  /** Fuel used by this key's metered runs (absent in counters written before metering). */
  fuel?: number;
  bytes_in: number;
  bytes_out: number;
  day: string;
  runs_today: number;
  updated_at: string | null;
}

/** An audit entry's id (auth/audit.ts auditId): milliseconds and a counter, fixed width. */
export const AUDIT_ID_FORMAT = /^[0-9]{15}-[0-9]{6}$/;

/** One line of the audit log; never carries a secret. */
export interface AuditEntry {
  /** Time-ordered id: the store key's suffix, and the cursor of GET /audit. */
  id: string;
  at: string;
  /** Key id that acted, or null (no key, or auth disabled). */
  actor: string | null;
  /** The actor's tenant, or the tenant acted on; null when unknown (a request without a valid key). */
  tenant: string | null;
  /** e.g. "key.create", "module.update", "auth.denied". */
  action: string;
  /** What the action was about: a module or key id, or the route for a denied request. */
  target: string | null;
  request_id: string;
  ip: string;
  status: number;
  outcome: 'success' | 'failure';
  /**
   * How many requests the entry stands for, on entries that aggregate them (auth.denied without a
   * valid key: one entry per client IP, reason and minute); absent means one.
   */
  count?: number;
  /** Short, secret-free details (e.g. the role given to a new key, the reason for a 401). */
  details?: Record<string, unknown>;
}
