import { MAX_VERSION } from '../types.js';

/**
 * The LevelDB key layout, in one place. Keys are UTF-8 strings; `!` separates parts and sorts
 * below every character an id or a hash uses, so each prefix is one contiguous key range.
 *
 *   meta!schema                      → schema version, ASCII decimal ("5"); written at first open
 *   m!<id>                           → ModuleRecord JSON of the module's current version
 *   v!<id>!<version, 10 digits>      → VersionRecord JSON of every version the module has had,
 *                                      the current one included (history only grows until delete)
 *   b!<sha256>                       → blob pointer, ASCII JSON {"c":"<content id>","size":N}: one per
 *                                      content hash (dedup), naming where the bytes are
 *   c!<content id>                   → the bytes: a wasm binary, or a version's files image (src/files/image.ts);
 *                                      content ids are UUIDv7s, so they sort by write time
 *   r!<sha256>!<id>!<version>        → empty; "version <version> of <id> uses blob <sha256>" (its binary, and
 *                                      its files image when it has files: two references)
 *   t!<tenant>!<id>                  → empty; "module <id> belongs to <tenant>" (lists one tenant's modules)
 *   tb!<tenant>                      → ASCII decimal: bytes of content the tenant holds, the size of every
 *                                      kept version (binary plus files image) of every module of it (quota.ts); absent means 0
 *   k!<key id>                       → KeyRecord JSON of an API key (its HMAC, never its secret)
 *   u!<key id>                       → KeyUsage JSON: the key's counters as of the last flush
 *   a!<audit id>                     → AuditEntry JSON; audit ids sort by time
 *   ta!<tenant>!<audit id>           → the same AuditEntry, for GET /audit?tenant=
 *   meta!auth_secret                 → the HMAC secret for key hashes, when the config gives none
 *   hr!<route id>                    → RouteRecord JSON of an HTTP handler route
 *   hp!<tenant>!<path>               → ASCII route id: "<tenant> has a route at <path>" (one route per path;
 *                                      route paths never hold `!`, src/http/schemas.ts)
 *   iv!<module id>!<slot, 6 digits>  → InvocationRecord JSON: the module's invocation with seq ≡ slot (mod keep),
 *                                      a ring (invocations-store.ts); new keys need no migration
 *   ivn!<module id>                  → ASCII decimal: the module's next invocation seq
 *   tset!<tenant>                    → TenantSettings JSON: what the tenant chose (PUT /settings)
 *
 * A blob is live while ANY key starts with `r!<sha256>!`: the last reference gone → delete the blob
 * (its `b!` pointer and its `c!` bytes), in the same batch. `<sha256>` is always 64 lowercase hex
 * characters and ids never hold `!`, so `r!` keys parse without ambiguity.
 *
 * Why two keys per blob: under sha256 keys every upload lands at a random place in the key space,
 * and LevelDB compaction rewrites the big values again and again; under time-ordered keys new bytes
 * append at the end. Raw batched sync writes of 100 KiB values ran ~1,120/s under sha256 keys and
 * ~1,800/s under sequential ones (32 writers, same options); the pointer keeps the random key but
 * is about 60 bytes. A pointer starts with `{`, wasm bytes with "\0asm", so the two never look alike.
 *
 * Older layouts are upgraded at open by migrate.ts: schema 1 had one `r!<sha256>!<id>` per module
 * and no `v!` keys, schema 2 had no tenants, schema 3 kept the bytes themselves under `b!<sha256>`,
 * schema 4 had no `tb!` counts.
 */

/** The layout version this code reads and writes; bump it with a migration when keys change. */
export const SCHEMA_VERSION = 6;

export const SCHEMA_KEY = 'meta!schema';

const MODULE_PREFIX = 'm!';
const BLOB_PREFIX = 'b!';
const CONTENT_PREFIX = 'c!';
const REF_PREFIX = 'r!';
const VERSION_PREFIX = 'v!';
const TENANT_PREFIX = 't!';
const API_KEY_PREFIX = 'k!';
const USAGE_PREFIX = 'u!';
const AUDIT_PREFIX = 'a!';
const TENANT_AUDIT_PREFIX = 'ta!';
const TENANT_BYTES_PREFIX = 'tb!';
const ROUTE_PREFIX = 'hr!';
const ROUTE_PATH_PREFIX = 'hp!';

/** The generated HMAC secret for key hashes (used only when the config sets none). */
export const AUTH_SECRET_KEY = 'meta!auth_secret';

/** Width of zero-padded version numbers, so that versions sort numerically as strings. */
/** Version numbers are zero-padded to this many digits, so they sort as numbers: room for MAX_VERSION. */
const VERSION_DIGITS = String(MAX_VERSION).length;
export { MAX_VERSION };

/** Key of a module's current record. */
export function moduleKey(id: string): string {
  return MODULE_PREFIX + id;
}

/** Key of the blob pointer for content with this hash (schema 3: of the bytes themselves). */
export function blobKey(sha256: string): string {
  return BLOB_PREFIX + sha256;
}

/** The hash at the end of a `b!` key. */
export function sha256OfBlobKey(key: string): string {
  return key.slice(BLOB_PREFIX.length);
}

/** The key range of every blob pointer, in hash order. */
export function blobRange(): { gt: string; lt: string } {
  return prefixRange(BLOB_PREFIX);
}

/** Key of the bytes a blob pointer names. */
export function contentKey(contentId: string): string {
  return CONTENT_PREFIX + contentId;
}

/** The key range of every blob's bytes, in write order. */
export function contentRange(): { gt: string; lt: string } {
  return prefixRange(CONTENT_PREFIX);
}

/** Key saying that version `version` of module `id` references blob `sha256`. */
export function refKey(sha256: string, id: string, version: number): string {
  return `${REF_PREFIX}${sha256}!${id}!${padVersion(version)}`;
}

/**
 * The parts of a reference key: the blob's hash, the module id and the version (undefined in a
 * schema-1 key, which had none); undefined when `key` is not a reference key.
 */
export function parseRefKey(key: string): { sha256: string; id: string; version: number | undefined } | undefined {
  if (!key.startsWith(REF_PREFIX)) return undefined;
  const [sha256, id, version] = key.slice(REF_PREFIX.length).split('!');
  if (sha256 === undefined || id === undefined) return undefined;
  return { sha256, id, version: version === undefined ? undefined : Number(version) };
}

/** True for a key holding blob bytes: a `c!` key (schema 4 and later). */
export function isContentKey(key: string): boolean {
  return key.startsWith(CONTENT_PREFIX);
}

/** True for a `b!` key: a blob pointer (schema 4), or the bytes themselves (schemas 1 to 3). */
export function isBlobKey(key: string): boolean {
  return key.startsWith(BLOB_PREFIX);
}

/** The content id at the end of a `c!` key. */
export function contentIdOfKey(key: string): string {
  return key.slice(CONTENT_PREFIX.length);
}

/** Schema 1's reference key (one per module); only the migration still uses it. */
export function legacyRefKey(sha256: string, id: string): string {
  return `${REF_PREFIX}${sha256}!${id}`;
}

/** Prefix shared by every reference to blob `sha256`, from any module and version. */
export function refPrefix(sha256: string): string {
  return `${REF_PREFIX}${sha256}!`;
}

/** Key of one version of a module. */
export function versionKey(id: string, version: number): string {
  return `${VERSION_PREFIX}${id}!${padVersion(version)}`;
}

/** Prefix of every version key of module `id`. */
export function versionPrefix(id: string): string {
  return `${VERSION_PREFIX}${id}!`;
}

/** The version number at the end of a `v!` or `r!` key. */
export function versionOfKey(key: string): number {
  return Number(key.slice(key.lastIndexOf('!') + 1));
}

/** Versions zero-padded so that they sort numerically as strings. */
function padVersion(version: number): string {
  return String(version).padStart(VERSION_DIGITS, '0');
}

/** Key saying that module `id` belongs to `tenant`. */
export function tenantModuleKey(tenant: string, id: string): string {
  return `${TENANT_PREFIX}${tenant}!${id}`;
}

/** Prefix of every module key of `tenant`; the module id follows it. */
export function tenantModulePrefix(tenant: string): string {
  return `${TENANT_PREFIX}${tenant}!`;
}

/** Key of the count of content bytes `tenant` holds. */
export function tenantBytesKey(tenant: string): string {
  return TENANT_BYTES_PREFIX + tenant;
}

/** The key range of every tenant's byte count. */
export function tenantBytesRange(): { gt: string; lt: string } {
  return prefixRange(TENANT_BYTES_PREFIX);
}

/** Key of an API key's record. */
export function apiKeyKey(id: string): string {
  return API_KEY_PREFIX + id;
}

/** The key range of every API key record. */
export function apiKeyRange(): { gt: string; lt: string } {
  return prefixRange(API_KEY_PREFIX);
}

/** Key of an HTTP handler route's record. */
export function routeKey(id: string): string {
  return ROUTE_PREFIX + id;
}

/** The key range of every route record. */
export function routeRange(): { gt: string; lt: string } {
  return prefixRange(ROUTE_PREFIX);
}

/** Key naming the route `tenant` has at `path`. */
export function routePathKey(tenant: string, path: string): string {
  return `${ROUTE_PATH_PREFIX}${tenant}!${path}`;
}

const TENANT_SETTINGS_PREFIX = 'tset!';

/** Key of a tenant's settings. */
export function tenantSettingsKey(tenant: string): string {
  return TENANT_SETTINGS_PREFIX + tenant;
}

/** The key range of every tenant's settings. */
export function tenantSettingsRange(): { gt: string; lt: string } {
  return prefixRange(TENANT_SETTINGS_PREFIX);
}

const INVOCATION_PREFIX = 'iv!';
const INVOCATION_SEQ_PREFIX = 'ivn!';

/** Key of ring slot `slot` of a module's invocation log. */
export function invocationKey(module: string, slot: number): string {
  return `${INVOCATION_PREFIX}${module}!${String(slot).padStart(6, '0')}`;
}

/** The key range of a module's invocation log. */
export function invocationRange(module: string): { gt: string; lt: string } {
  return prefixRange(`${INVOCATION_PREFIX}${module}!`);
}

/** Key of a module's next invocation seq. */
export function invocationSeqKey(module: string): string {
  return INVOCATION_SEQ_PREFIX + module;
}

/** Key of an API key's usage counters. */
export function usageKey(id: string): string {
  return USAGE_PREFIX + id;
}

/** Key of an audit entry in the global log. */
export function auditKey(auditId: string): string {
  return AUDIT_PREFIX + auditId;
}

/** Prefix of the global audit log; `auditTenantPrefix` is the prefix of one tenant's. */
export const AUDIT_LOG_PREFIX = AUDIT_PREFIX;

/** Key of an audit entry in a tenant's log. */
export function tenantAuditKey(tenant: string, auditId: string): string {
  return `${TENANT_AUDIT_PREFIX}${tenant}!${auditId}`;
}

/** Prefix of one tenant's audit log. */
export function auditTenantPrefix(tenant: string): string {
  return `${TENANT_AUDIT_PREFIX}${tenant}!`;
}

/** The key range of every module record, in id order. */
export function moduleRange(): { gt: string; lt: string } {
  return prefixRange(MODULE_PREFIX);
}

/** The key range of every version record of every module, in (id, version) order. */
export function allVersionsRange(): { gt: string; lt: string } {
  return prefixRange(VERSION_PREFIX);
}

/** The module id in a version key (`v!<id>!<version>`). */
export function moduleIdOfVersionKey(key: string): string {
  return key.slice(VERSION_PREFIX.length, key.lastIndexOf('!'));
}

/** Range bounds `{gt, lt}` covering exactly the keys that start with `prefix`. */
export function prefixRange(prefix: string): { gt: string; lt: string } {
  // UTF-8 byte order is code point order, so bumping the last code unit bounds the prefix.
  const last = prefix.charCodeAt(prefix.length - 1);
  return { gt: prefix, lt: prefix.slice(0, -1) + String.fromCharCode(last + 1) };
}

/** True when `id` can be used in keys: non-empty and free of the separator. */
export function isKeySafeId(id: string): boolean {
  return id.length > 0 && !id.includes('!');
}

/*
 * Jobs and webhook secrets (store/jobs.ts has the rules):
 *
 *   j!<job id>                       → JobRecord JSON; job ids are UUIDv7s, so they sort by creation
 *   tj!<tenant>!<job id>             → empty; "job <id> belongs to <tenant>" (GET /jobs)
 *   jd!<due ms, 15 digits>!<job id>  → empty; the job's due_at: what a claim reads, soonest first
 *   ji!<tenant>!<sha256 of the key>  → the job id an idempotency key names (hashed: a key may hold "!")
 *   jn!<tenant>                      → ASCII decimal: the tenant's jobs queued or running (max_queued_jobs)
 *   ws!<tenant>                      → the tenant's webhook signing secret
 */
const JOB_PREFIX = 'j!';
const TENANT_JOB_PREFIX = 'tj!';
const JOB_DUE_PREFIX = 'jd!';
const JOB_IDEMPOTENCY_PREFIX = 'ji!';
const JOB_ACTIVE_PREFIX = 'jn!';
const WEBHOOK_SECRET_PREFIX = 'ws!';
const DUE_DIGITS = 15;

export function jobKey(id: string): string {
  return JOB_PREFIX + id;
}

export function tenantJobKey(tenant: string, id: string): string {
  return `${TENANT_JOB_PREFIX}${tenant}!${id}`;
}

export function tenantJobPrefix(tenant: string): string {
  return `${TENANT_JOB_PREFIX}${tenant}!`;
}

export function jobRange(): { gt: string; lt: string } {
  return prefixRange(JOB_PREFIX);
}

/** Key of a job's due time; milliseconds padded so that keys sort by time. */
export function jobDueKey(dueAt: string, id: string): string {
  return `${JOB_DUE_PREFIX}${String(Date.parse(dueAt)).padStart(DUE_DIGITS, '0')}!${id}`;
}

/** Due keys up to and including `now`, soonest first. */
export function jobsDueRange(now: string): { gt: string; lt: string } {
  return { gt: JOB_DUE_PREFIX, lt: `${JOB_DUE_PREFIX}${String(Date.parse(now) + 1).padStart(DUE_DIGITS, '0')}` };
}

/** The job id at the end of a `jd!` or `tj!` key. */
export function jobIdOfKey(key: string): string {
  return key.slice(key.lastIndexOf('!') + 1);
}

export function jobIdempotencyKey(tenant: string, keyHash: string): string {
  return `${JOB_IDEMPOTENCY_PREFIX}${tenant}!${keyHash}`;
}

export function jobActiveKey(tenant: string): string {
  return JOB_ACTIVE_PREFIX + tenant;
}

export function jobActivePrefix(): string {
  return JOB_ACTIVE_PREFIX;
}

export function webhookSecretKey(tenant: string): string {
  return WEBHOOK_SECRET_PREFIX + tenant;
}

/*
 * Schedules (store/schedules.ts):
 *
 *   s!<schedule id>                          → ScheduleRecord JSON
 *   ts!<tenant>!<schedule id>                → empty; "schedule <id> belongs to <tenant>" (lists, max_schedules)
 *   sd!<next tick ms, 15 digits>!<schedule id> → empty; the schedule's next_at, soonest first
 */
const SCHEDULE_PREFIX = 's!';
const TENANT_SCHEDULE_PREFIX = 'ts!';
const SCHEDULE_DUE_PREFIX = 'sd!';

export function scheduleKey(id: string): string {
  return SCHEDULE_PREFIX + id;
}

export function scheduleRange(): { gt: string; lt: string } {
  return prefixRange(SCHEDULE_PREFIX);
}

export function tenantScheduleKey(tenant: string, id: string): string {
  return `${TENANT_SCHEDULE_PREFIX}${tenant}!${id}`;
}

export function tenantSchedulePrefix(tenant: string): string {
  return `${TENANT_SCHEDULE_PREFIX}${tenant}!`;
}

export function scheduleDueKey(nextAt: string, id: string): string {
  return `${SCHEDULE_DUE_PREFIX}${String(Date.parse(nextAt)).padStart(DUE_DIGITS, '0')}!${id}`;
}

/** Schedule due keys up to and including `now`. */
export function schedulesDueRange(now: string): { gt: string; lt: string } {
  return { gt: SCHEDULE_DUE_PREFIX, lt: `${SCHEDULE_DUE_PREFIX}${String(Date.parse(now) + 1).padStart(DUE_DIGITS, '0')}` };
}

/**
 * Every key family's prefix (and meta!): no two may be equal or one the start of another, or a
 * range read of one family would return the other's keys (test/store/keys.test.ts checks it).
 */
export const KEY_PREFIXES: readonly string[] = ['meta!', MODULE_PREFIX, BLOB_PREFIX, CONTENT_PREFIX, REF_PREFIX, VERSION_PREFIX, TENANT_PREFIX, API_KEY_PREFIX, USAGE_PREFIX, AUDIT_PREFIX, TENANT_AUDIT_PREFIX, TENANT_BYTES_PREFIX, ROUTE_PREFIX, ROUTE_PATH_PREFIX, TENANT_SETTINGS_PREFIX, INVOCATION_PREFIX, INVOCATION_SEQ_PREFIX, JOB_PREFIX, TENANT_JOB_PREFIX, JOB_DUE_PREFIX, JOB_IDEMPOTENCY_PREFIX, JOB_ACTIVE_PREFIX, WEBHOOK_SECRET_PREFIX, SCHEDULE_PREFIX, TENANT_SCHEDULE_PREFIX, SCHEDULE_DUE_PREFIX];
