import type { AuditEntry, KeyRecord, KeyUsage } from '../auth/types.js';
import type { FunctionExport } from '../wasm/types.js';
import type { JobChange, JobRecord, JobTask, ScheduleRecord } from './job-types.js';

/**
 * A version's files as records show them: the files image (src/files/image.ts) is a blob like the
 * module's binary, kept under its sha256. `count` and `bytes` are the files and their contents;
 * `size` is the image's own length, what the version holds in the store (and counts toward max_storage).
 */
export interface FilesSummary {
  count: number;
  bytes: number;
  sha256: string;
  size: number;
}

/** A version's files on their way into the store: the summary and the image bytes it describes. */
export interface FilesContent {
  summary: FilesSummary;
  image: Uint8Array;
}

/** How a module is run: exported functions called with JSON values, or a WASI command (`_start`). */
export type ModuleKind = 'functions' | 'wasi';

/** A module as the HTTP API shows it (content bytes live apart, by sha256). */
export interface ModuleRecord {
  id: string;
  /** The tenant of the key that created it; only that tenant (and admins) can see it. */
  tenant: string;
  name: string;
  version: number;
  sha256: string;
  size: number;
  exports: FunctionExport[];
  /** Limits of the module's memory as Wess enforces them; null when it has none. */
  memory: { min_pages: number; max_pages: number } | null;
  /** Records written before WASI support have none stored; they read as 'functions'. */
  kind: ModuleKind;
  /** The current version's files; absent when it has none (and in records written before files existed). */
  files?: FilesSummary;
  created_at: string;
  updated_at: string;
}

/**
 * One immutable version of a module, kept under `v!<id>!<version>` for as long as the module lives.
 * `created_at` is when this version was written (a module's `created_at` is when version 1 was).
 */
export interface VersionRecord {
  id: string;
  version: number;
  name: string;
  sha256: string;
  size: number;
  exports: FunctionExport[];
  memory: ModuleRecord['memory'];
  kind: ModuleKind;
  /** The files this version was uploaded with; absent when none. */
  files?: FilesSummary;
  created_at: string;
}

/**
 * An HTTP handler route: requests to `/h/<tenant><path>` (and below it) run `module`, a WASI command,
 * by the CGI convention (src/http/cgi.ts). `version` pins one version; null follows the current one.
 */
export interface RouteRecord {
  id: string;
  tenant: string;
  /** `/` or `/seg/seg…`, no trailing slash; unique within the tenant. */
  path: string;
  module: string;
  version: number | null;
  /** Upper-case methods the route takes; null for any. */
  methods: string[] | null;
  /** Served without a key (rate-limited per client IP, charged to the tenant); else any key of the tenant with `run` rights. */
  public: boolean;
  /** Whether the guest sees the request's Authorization header as HTTP_AUTHORIZATION. */
  pass_authorization: boolean;
  /** The key that created the route: what a public route's runs are charged to (runs_per_day, usage). */
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

/** A line of `GET /modules/{id}/versions`; `created_by` joins it once requests are authenticated. */
export type VersionSummary = Pick<VersionRecord, 'version' | 'sha256' | 'size' | 'created_at' | 'name' | 'files'>;

/** What a create or update carries: everything the route learned from the binary. */
export interface ModuleContent {
  sha256: string;
  content: Uint8Array;
  exports: FunctionExport[];
  memory: ModuleRecord['memory'];
  /** Optional until admission classifies every upload; absent means 'functions'. */
  kind?: ModuleKind;
  /** The version's files (src/files/archive.ts); absent for a version without files. */
  files?: FilesContent;
}

/**
 * Per-tenant limits the writer checks against what is stored, as it applies the message: two writes
 * racing for the last room are applied one after the other on the same batch, so only one gets it.
 * Absent fields (and an absent quota) mean no limit.
 */
export interface TenantQuota {
  /** The tier the limits come from, named in refusals; null for limits that are not a tier's. */
  tier: string | null;
  /** Modules the tenant may have. */
  maxModules?: number;
  /** Bytes of content the tenant may hold over all kept versions (quota.ts). */
  maxStorage?: number;
}

/**
 * `expectVersion` is If-Match: the writer refuses with VERSION_CONFLICT when the module moved on.
 * `tenant`, when set, must be the module's tenant (MODULE_NOT_FOUND otherwise): checked in the
 * writer, against the record it is about to change. `audit` is staged in the same batch on success.
 */
interface Guarded {
  id: string;
  expectVersion?: number;
  tenant?: string;
  audit?: AuditEntry;
  quota?: TenantQuota;
}

/**
 * The typed messages the writer accepts; nothing else writes LevelDB. Content travels nested,
 * not spread: its own `kind` ('functions' | 'wasi') would clash with the message's `kind`.
 */
export type WriteMessage =
  | { kind: 'create-module'; id: string; tenant: string; name: string; content: ModuleContent; quota?: TenantQuota; audit?: AuditEntry }
  | ({ kind: 'update-module'; name?: string; content: ModuleContent } & Guarded)
  | ({ kind: 'rename-module'; name: string } & Guarded)
  | ({ kind: 'rollback-module'; toVersion: number } & Guarded)
  | ({ kind: 'delete-module' } & Guarded)
  /**
   * Creates a key, or replaces one with the same id (the bootstrap admin key given a new secret).
   * With `ifAbsent` (an import: a key moved from another deployment, hash included), written only
   * when no key has this id: an existing one is kept untouched, is the result, and nothing is announced.
   */
  | { kind: 'put-key'; key: KeyRecord; audit?: AuditEntry; ifAbsent?: true }
  /** Marks a key revoked; `tenant`, when set, must be the key's tenant (KEY_NOT_FOUND otherwise). */
  | { kind: 'revoke-key'; id: string; tenant?: string; audit?: AuditEntry }
  | { kind: 'append-audit'; entry: AuditEntry }
  /** Entries gathered over time (aggregated denials), written together: one message, however many. */
  | { kind: 'append-audit-batch'; entries: AuditEntry[] }
  /**
   * Per-key counters: `usage` is the whole of them as this node counts them (what a store written by
   * one node keeps), `added` what this node counted since its last flush (what a store shared by
   * several nodes adds to the stored counters, so no node's counts overwrite another's).
   */
  | { kind: 'put-usage'; usage: Array<{ keyId: string; usage: KeyUsage; added: UsageAdded }> }
  | { kind: 'put-meta'; key: string; value: Uint8Array }
  /**
   * Creates (`create`) or replaces an HTTP handler route. ROUTE_CONFLICT when another route of the
   * tenant has its path; a replace of a route that is missing, or not of `tenant` when set, is ROUTE_NOT_FOUND.
   */
  | { kind: 'put-route'; route: RouteRecord; create: boolean; tenant?: string; audit?: AuditEntry }
  /** Deletes a route; `tenant`, when set, must be its tenant (ROUTE_NOT_FOUND otherwise). */
  | { kind: 'delete-route'; id: string; tenant?: string; audit?: AuditEntry }
  /**
   * Invocations gathered since the last flush, per module, oldest first: each gets the module's next
   * sequence number and takes the ring slot `seq % keep`, so a module keeps its last `keep`. A module
   * deleted meanwhile is skipped.
   */
  | { kind: 'append-invocations'; keep: number; modules: Array<{ module: string; records: InvocationDraft[] }> }
  /** Replaces a tenant's settings (PUT /settings). */
  | { kind: 'put-tenant-settings'; settings: TenantSettings; audit?: AuditEntry }
  /**
   * A module moved from another node with its whole history, ids, names and times kept (import).
   * Skipped, not refused, when the id already exists, so that a re-run of an import is harmless.
   */
  | { kind: 'import-module'; id: string; tenant: string; name: string; created_at: string; updated_at: string; versions: ImportedVersion[]; quota?: TenantQuota }
  | JobMessage;

/**
 * Jobs (job-types.ts). A create with an `idempotency_key` returns the tenant's job with that key
 * created after `idempotentSince` instead, if there is one; `maxActive` is the tenant's
 * max_queued_jobs. A change names `tenant` unless an admin makes it. A claim takes up to `limit`
 * due jobs, each for `leaseMs` past its timeout.
 */
export type JobMessage =
  | { kind: 'create-job'; job: JobRecord; idempotentSince: string; maxActive?: number; tier: string | null }
  | { kind: 'change-job'; id: string; tenant?: string; change: JobChange }
  | { kind: 'claim-jobs'; limit: number; leaseMs: number }
  /** Creates or replaces the tenant's webhook signing secret. */
  | { kind: 'put-webhook-secret'; tenant: string; secret: string }
  /** `maxSchedules` is the tenant's max_schedules. */
  | { kind: 'create-schedule'; schedule: ScheduleRecord; maxSchedules?: number; tier: string | null }
  | { kind: 'delete-schedule'; id: string; tenant?: string }
  /**
   * Fires up to `limit` due schedules (store/schedules.ts): each creates its job and moves to its next
   * tick; a schedule whose module is gone is deleted instead.
   */
  | { kind: 'fire-schedules'; limit: number }
  /**
   * Deletes up to `limit` jobs created before `before` that have ended and have no callback left to
   * deliver (jobs.retention), oldest first.
   */
  | { kind: 'purge-jobs'; before: string; limit: number };

/** Counts one node added to a key's usage since its last flush; `runs_today` are runs of `day`. */
export type UsageAdded = Omit<KeyUsage, 'updated_at' | 'fuel'> & { fuel: number };

/** One version of an imported module: what the source node recorded, with content admitted here. */
export interface ImportedVersion {
  version: number;
  name: string;
  created_at: string;
  content: ModuleContent;
}

const JOB_KINDS: ReadonlySet<string> = new Set<JobMessage['kind']>([
  'create-job', 'change-job', 'claim-jobs', 'put-webhook-secret', 'create-schedule', 'delete-schedule', 'fire-schedules', 'purge-jobs',
]);

/** True for the messages about jobs (and their webhook secrets). */
export function isJobMessage(msg: WriteMessage): msg is JobMessage {
  return JOB_KINDS.has(msg.kind);
}

/** Messages about one module. */
export type ModuleMessage = Extract<WriteMessage, { kind: `${string}-module` }>;

/** Messages about HTTP handler routes. */
export type RouteMessage = Extract<WriteMessage, { kind: `${string}-route` }>;

/** What the writer answers for each message kind, once the batch holding it is on disk. */
export interface WriteResult {
  'create-module': ModuleRecord;
  'update-module': ModuleRecord;
  'rename-module': ModuleRecord;
  'rollback-module': ModuleRecord;
  /** The record as it was before the delete. */
  'delete-module': ModuleRecord;
  'put-key': KeyRecord;
  'revoke-key': KeyRecord;
  'append-audit': AuditEntry;
  'append-audit-batch': null;
  /** The stored counters after the write, where they can differ from this node's (a shared store); else null. */
  'put-usage': Array<{ keyId: string; usage: KeyUsage }> | null;
  'put-meta': null;
  'put-route': RouteRecord;
  /** The route as it was before the delete. */
  'delete-route': RouteRecord;
  'append-invocations': null;
  'put-tenant-settings': TenantSettings;
  /**
   * `imported: false` when a module with that id already existed (nothing written); `pruned` counts
   * the oldest versions left out because the module had more than limits.max_versions.
   */
  'import-module': { imported: boolean; record: ModuleRecord; pruned: number };
  /** `created: false` when the idempotency key named an earlier job, which is `job`. */
  'create-job': { job: JobRecord; created: boolean };
  'change-job': JobRecord;
  'claim-jobs': JobTask[];
  'put-webhook-secret': null;
  'create-schedule': ScheduleRecord;
  /** The schedule as it was. */
  'delete-schedule': ScheduleRecord;
  /** Jobs created. */
  'fire-schedules': number;
  /** Jobs deleted. */
  'purge-jobs': number;
}

/** What a tenant chose for itself (PUT /settings); a tenant that never chose has DEFAULT_TENANT_SETTINGS. */
export interface TenantSettings {
  tenant: string;
  /** Whether the invocation log keeps its calls' arguments (else only their digest). */
  capture_args: boolean;
  updated_at: string | null;
}

/** One call of a module as the invocation log keeps it (GET /modules/{id}/invocations). */
export interface InvocationRecord {
  /** The module's invocation number: newer calls have higher ones (per module, over every node). */
  seq: number;
  /** When the answer was sent (ISO). */
  time: string;
  request_id: string;
  /** The W3C trace id the caller sent (traceparent), whether or not tracing exports; null without one. */
  trace_id: string | null;
  key_id: string | null;
  version: number;
  /** The export called (`_start` for a WASI program); null when the call named none and was refused before one was picked. */
  function: string | null;
  /** The HTTP handler route path, for a call made through one; else null. */
  route: string | null;
  /** sha256 (hex) of the call's arguments as JSON, or of the request body for a handler: which calls were alike, never what they held. */
  args_digest: string | null;
  /** The arguments themselves, only where the tenant turned on capture_args. */
  args?: unknown;
  status: number;
  /** The error code of a failed call; null for a success. */
  code: string | null;
  stats: { duration_ms: number; queued_ms: number; cpu_ms: number; fuel_used?: number; memory_pages?: number | null; calls: number };
  /** The start of a WASI program's stderr (at most 4 KiB), when it wrote any. */
  stderr?: string;
}

export type InvocationDraft = Omit<InvocationRecord, 'seq'>;

export interface InvocationPage {
  items: InvocationRecord[];
  next_cursor: string | null;
}

export interface ModulePage {
  items: ModuleRecord[];
  next_cursor: string | null;
}

export interface VersionPage {
  items: VersionSummary[];
  next_cursor: string | null;
}

/* Shapes every engine's implementation shares (store.ts's interfaces use them). */

/** What can be wrong with a blob: no bytes, other bytes, or bytes the store cannot read. */
export type BlobProblem = 'missing' | 'damaged' | 'unreadable';

export type Inspected = { ok: true; bytes: Uint8Array } | { ok: false; problem: BlobProblem; message: string };

export interface ListOptions {
  /** 1..100; the route validates it, the reader checks again. */
  limit: number;
  /** Opaque cursor from a previous page's next_cursor. */
  cursor?: string | null | undefined;
}

export interface ModuleListOptions extends ListOptions {
  /** Only this tenant's modules (through the t! index); every tenant's when absent. */
  tenant?: string | undefined;
  /** Only these module ids (a key scoped to named modules). */
  only?: ReadonlySet<string> | null | undefined;
}

export interface Damage {
  module_id: string;
  version: number;
  sha256: string;
  problem: BlobProblem;
  message: string;
  /** True when the damaged blob is the version's files image, not its binary. */
  files?: true;
}

export interface VerifyReport {
  started_at: string;
  finished_at: string;
  /** Modules and versions looked at, and distinct blobs read. */
  modules: number;
  versions: number;
  blobs: number;
  /** Bytes read and hashed. */
  bytes: number;
  damaged: Damage[];
}

export interface WriterStats {
  accepting: boolean;
  queued: number;
  queue_limit: number;
  batches: number;
  modules: number;
}

/** The largest version number a module may reach, in every store (LevelDB's key layout pads to its digits). */
export const MAX_VERSION = 9_999_999_999;
