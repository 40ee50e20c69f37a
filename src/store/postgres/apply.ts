import type pg from 'pg';
import type { AuditEntry, KeyRecord } from '../../auth/types.js';
import { wessError } from '../../errors.js';
import { contentSha256 } from '../../hash.js';
import { checkImport, createdEvent, deletedEvent, nextRecord, pruneAudit, updatedEvent, type DroppedVersion } from '../changes.js';
import type { Applied } from '../group-writer.js';
import { checkModules, checkStorage, heldBytes, sumHeld } from '../quota.js';
import { contentOf, importedModuleRecord, importedVersionRecord, moduleRecord, uploadContent, versionOf, type VersionContent } from '../records.js';
import { isJobMessage, type ImportedVersion, type ModuleContent, type ModuleMessage, type ModuleRecord, type TenantQuota, type VersionRecord, type WriteMessage } from '../types.js';
import { applyRouteMessage } from './routes-store.js';
import { applyJobMessage } from './apply-jobs.js';
import { applyInvocations } from './invocations-store.js';
import { applyTenantSettings } from './tenant-settings-store.js';
import { usageOf, type UsageRow } from './usage-store.js';

/**
 * One write message as SQL, inside the writer's transaction (writer.ts runs each in a savepoint).
 * Correctness between nodes comes from row locks taken here, always in the same order (the tenant's
 * wess_tenants row, then the module's row): an If-Match, a quota or a byte count is checked on rows
 * this transaction holds, so two nodes' racing writes are applied one after the other.
 */

type Msg<K extends WriteMessage['kind']> = Extract<WriteMessage, { kind: K }>;

export interface ApplyContext {
  /** ISO time of the group: the time of the versions and records it writes. */
  now: string;
  /** Versions a module keeps (limits.max_versions). */
  maxVersions: number;
}

export async function applyMessage(c: pg.PoolClient, msg: WriteMessage, context: ApplyContext): Promise<Applied> {
  if (isJobMessage(msg)) return applyJobMessage(c, msg, context.now);
  switch (msg.kind) {
    case 'put-key': {
      if (msg.ifAbsent) {
        // An imported key: written only when no key has its id; otherwise the stored one, unannounced.
        const stored = await insertKeyIfAbsent(c, msg.key);
        if (stored !== undefined) return quietly(stored);
      } else {
        await putKey(c, msg.key);
      }
      if (msg.audit) await insertAudit(c, msg.audit);
      return { result: msg.key, moduleDelta: 0, events: [{ topic: 'key.stored', payload: { id: msg.key.id, tenant: msg.key.tenant, key: msg.key } }] };
    }
    case 'revoke-key': {
      const key = await revokeKey(c, msg.id, msg.tenant);
      if (msg.audit) await insertAudit(c, msg.audit);
      return { result: key, moduleDelta: 0, events: [{ topic: 'key.revoked', payload: { id: key.id, tenant: key.tenant, key } }] };
    }
    case 'append-audit':
      return quietly(await insertAudit(c, msg.entry));
    case 'append-audit-batch':
      for (const entry of msg.entries) await insertAudit(c, entry);
      return quietly(null);
    case 'put-usage':
      return quietly(await addUsage(c, msg.usage));
    case 'put-route':
    case 'delete-route': {
      const applied = await applyRouteMessage(c, msg);
      if (msg.audit) await insertAudit(c, msg.audit);
      return applied;
    }
    case 'append-invocations':
      return applyInvocations(c, msg);
    case 'put-tenant-settings': {
      const applied = await applyTenantSettings(c, msg);
      if (msg.audit) await insertAudit(c, msg.audit);
      return applied;
    }
    case 'put-meta':
      // A setting is written once, first wins (the server secret: settings-store.ts).
      await c.query('INSERT INTO wess_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [msg.key, Buffer.from(msg.value).toString('utf8')]);
      return quietly(null);
    default: {
      if (msg.id === '' || msg.id.includes('!')) throw wessError('VALIDATION', 'module id must be non-empty and must not contain "!"');
      const applied = await applyModuleMessage(c, msg, context);
      if ('audit' in msg && msg.audit) await insertAudit(c, msg.audit);
      return applied;
    }
  }
}

function quietly(result: unknown): Applied {
  return { result, moduleDelta: 0, events: [] };
}

async function applyModuleMessage(c: pg.PoolClient, msg: ModuleMessage, context: ApplyContext): Promise<Applied> {
  switch (msg.kind) {
    case 'create-module':
      return create(c, msg, context.now);
    case 'update-module': {
      const { current, held } = await lockCurrent(c, msg);
      await putBlobs(c, msg.content);
      return next(c, current, held, uploadContent(msg.content, msg.name ?? current.name), msg, context);
    }
    case 'rename-module': {
      const { current, held } = await lockCurrent(c, msg);
      return next(c, current, held, contentOf(current, msg.name), msg, context);
    }
    case 'rollback-module': {
      const { current, held } = await lockCurrent(c, msg);
      const target = await loadVersion(c, msg.id, msg.toVersion);
      return next(c, current, held, target, msg, context, msg.toVersion);
    }
    case 'delete-module':
      return remove(c, msg);
    case 'import-module':
      return importModule(c, msg, context.maxVersions);
  }
}

async function create(c: pg.PoolClient, msg: Msg<'create-module'>, now: string): Promise<Applied> {
  const held = await lockTenant(c, msg.tenant);
  if ((await c.query('SELECT 1 FROM wess_modules WHERE id = $1', [msg.id])).rowCount) {
    // Ids are server-generated UUIDv4s, so a clash is a bug, not a client conflict.
    throw wessError('INTERNAL', `module id ${msg.id} already exists`);
  }
  await checkModuleCount(c, msg.tenant, msg.quota);
  const record = moduleRecord(msg.id, msg.tenant, 1, uploadContent(msg.content, msg.name), now, now);
  checkStorage(msg.tenant, held, heldBytes(record), msg.quota);
  await putBlobs(c, msg.content);
  await c.query('INSERT INTO wess_modules (id, record) VALUES ($1, $2)', [record.id, JSON.stringify(record)]);
  await insertVersion(c, versionOf(record));
  await addBytes(c, record.tenant, heldBytes(record));
  return { result: record, moduleDelta: 1, events: [createdEvent(record)] };
}

/** Version current+1 from `content`; prunes past max_versions; charges the difference. */
async function next(
  c: pg.PoolClient,
  current: ModuleRecord,
  held: number,
  content: VersionContent,
  msg: { quota?: TenantQuota; audit?: AuditEntry },
  context: ApplyContext,
  rollbackFrom?: number,
): Promise<Applied> {
  const record = nextRecord(current, content, context.now);
  await c.query('UPDATE wess_modules SET record = $2 WHERE id = $1', [record.id, JSON.stringify(record)]);
  await insertVersion(c, versionOf(record));
  const pruned = await prune(c, record.id, context.maxVersions);
  const adding = heldBytes(record);
  const delta = adding - sumHeld(pruned);
  checkStorage(record.tenant, held, delta, msg.quota, adding);
  await addBytes(c, record.tenant, delta);
  if (pruned.length > 0) await insertAudit(c, pruneAudit(record, pruned, context, msg.audit));
  return { result: record, moduleDelta: 0, events: [updatedEvent(record, current, pruned, rollbackFrom)] };
}

async function remove(c: pg.PoolClient, msg: Msg<'delete-module'>): Promise<Applied> {
  const { current } = await lockCurrent(c, msg);
  const res = await c.query<{ record: VersionRecord }>('DELETE FROM wess_versions WHERE module_id = $1 RETURNING record', [msg.id]);
  await c.query('DELETE FROM wess_modules WHERE id = $1', [msg.id]);
  const dropped = res.rows.map((row) => droppedOf(row.record));
  await dropUnused(c, dropped);
  await addBytes(c, current.tenant, -sumHeld(dropped));
  return { result: current, moduleDelta: -1, events: [deletedEvent(current)] };
}

async function importModule(c: pg.PoolClient, msg: Msg<'import-module'>, maxVersions: number): Promise<Applied> {
  const existing = await c.query<{ record: ModuleRecord }>('SELECT record FROM wess_modules WHERE id = $1', [msg.id]);
  if (existing.rows[0]) return { result: { imported: false, record: existing.rows[0].record, pruned: 0 }, moduleDelta: 0, events: [] };
  checkImport(msg);
  const held = await lockTenant(c, msg.tenant);
  await checkModuleCount(c, msg.tenant, msg.quota);
  const kept = msg.versions.slice(-maxVersions);
  const versions = kept.map((version) => importedVersionRecord(msg.id, version));
  checkStorage(msg.tenant, held, sumHeld(versions), msg.quota);
  // checkImport made sure there is at least one version.
  const record = importedModuleRecord(msg, msg.versions[msg.versions.length - 1] as ImportedVersion);
  await c.query('INSERT INTO wess_modules (id, record) VALUES ($1, $2)', [record.id, JSON.stringify(record)]);
  for (const [i, version] of kept.entries()) {
    await putBlobs(c, version.content);
    await insertVersion(c, versions[i] as VersionRecord);
  }
  await addBytes(c, msg.tenant, sumHeld(versions));
  return { result: { imported: true, record, pruned: msg.versions.length - kept.length }, moduleDelta: 1, events: [createdEvent(record)] };
}

/**
 * Locks the tenant's row (made if new) and returns the bytes it holds. Every module change takes it
 * first, so max_modules and max_storage are checked by one node at a time per tenant.
 */
async function lockTenant(c: pg.PoolClient, tenant: string): Promise<number> {
  await c.query('INSERT INTO wess_tenants (tenant) VALUES ($1) ON CONFLICT (tenant) DO NOTHING', [tenant]);
  const res = await c.query<{ bytes: string }>('SELECT bytes FROM wess_tenants WHERE tenant = $1 FOR UPDATE', [tenant]);
  return Number(res.rows[0]?.bytes ?? 0);
}

async function addBytes(c: pg.PoolClient, tenant: string, delta: number): Promise<void> {
  if (delta !== 0) await c.query('UPDATE wess_tenants SET bytes = GREATEST(0, bytes + $2) WHERE tenant = $1', [tenant, delta]);
}

async function checkModuleCount(c: pg.PoolClient, tenant: string, quota: TenantQuota | undefined): Promise<void> {
  if (quota?.maxModules === undefined) return;
  const res = await c.query<{ count: string }>('SELECT count(*) AS count FROM wess_modules WHERE tenant = $1', [tenant]);
  checkModules(tenant, Number(res.rows[0]?.count ?? 0), quota);
}

/**
 * The module's current record, locked (the tenant's row first, then the module's); MODULE_NOT_FOUND
 * when there is none or it is another tenant's than the message names, VERSION_CONFLICT when
 * If-Match names another version. Read after the lock, so a racing node's committed change counts.
 */
async function lockCurrent(c: pg.PoolClient, msg: { id: string; expectVersion?: number; tenant?: string }): Promise<{ current: ModuleRecord; held: number }> {
  const notFound = () => wessError('MODULE_NOT_FOUND', `no module with id ${msg.id}`, { id: msg.id });
  const owner = (await c.query<{ tenant: string }>('SELECT tenant FROM wess_modules WHERE id = $1', [msg.id])).rows[0]?.tenant;
  if (owner === undefined || (msg.tenant !== undefined && owner !== msg.tenant)) throw notFound();
  const held = await lockTenant(c, owner);
  const current = (await c.query<{ record: ModuleRecord }>('SELECT record FROM wess_modules WHERE id = $1 FOR UPDATE', [msg.id])).rows[0]?.record;
  if (current === undefined) throw notFound();
  if (msg.expectVersion !== undefined && msg.expectVersion !== current.version) {
    throw wessError(
      'VERSION_CONFLICT',
      `module ${msg.id} is at version ${current.version}, not version ${msg.expectVersion} as If-Match expects`,
      { current_version: current.version, expected_version: msg.expectVersion },
    );
  }
  return { current, held };
}

async function loadVersion(c: pg.PoolClient, id: string, version: number): Promise<VersionRecord> {
  const res = await c.query<{ record: VersionRecord }>('SELECT record FROM wess_versions WHERE module_id = $1 AND version = $2', [id, version]);
  const record = res.rows[0]?.record;
  if (!record) throw wessError('VERSION_NOT_FOUND', `module ${id} has no version ${version}`, { id, version });
  return record;
}

async function insertVersion(c: pg.PoolClient, version: VersionRecord): Promise<void> {
  await c.query('INSERT INTO wess_versions (module_id, version, record) VALUES ($1, $2, $3)', [version.id, version.version, JSON.stringify(version)]);
}

/** Keeps the newest `keep` versions; removes the older ones and each blob no version uses any more. Oldest first. */
async function prune(c: pg.PoolClient, id: string, keep: number): Promise<DroppedVersion[]> {
  const res = await c.query<{ record: VersionRecord }>(
    `DELETE FROM wess_versions WHERE module_id = $1 AND version IN (
       SELECT version FROM wess_versions WHERE module_id = $1 ORDER BY version DESC OFFSET $2)
     RETURNING record`,
    [id, keep],
  );
  const dropped = res.rows.map((row) => droppedOf(row.record)).sort((a, b) => a.version - b.version);
  await dropUnused(c, dropped);
  return dropped;
}

function droppedOf({ version, sha256, size, files }: VersionRecord): DroppedVersion {
  return files === undefined ? { version, sha256, size } : { version, sha256, size, files };
}

/**
 * Deletes the blobs of `dropped` that no version uses any more. A node adding a version that uses one
 * of them at the same moment either committed first (the blob is used: kept) or waits on the row and
 * then fails its foreign key, and the writer applies that message again (writer.ts), storing the blob anew.
 */
async function dropUnused(c: pg.PoolClient, dropped: readonly DroppedVersion[]): Promise<void> {
  const hashes = [...new Set(dropped.flatMap((v) => (v.files === undefined ? [v.sha256] : [v.sha256, v.files.sha256])))];
  if (hashes.length === 0) return;
  await c.query(
    `DELETE FROM wess_blobs b WHERE b.sha256 = ANY($1::text[])
       AND NOT EXISTS (SELECT 1 FROM wess_versions v WHERE v.sha256 = b.sha256)
       AND NOT EXISTS (SELECT 1 FROM wess_versions v WHERE v.files_sha256 = b.sha256)`,
    [hashes],
  );
}

/** An upload's binary and files image, each stored once per hash. */
async function putBlobs(c: pg.PoolClient, content: ModuleContent): Promise<void> {
  await putBlob(c, content.sha256, content.content);
  if (content.files !== undefined) await putBlob(c, content.files.summary.sha256, content.files.image);
}

/**
 * Stores the bytes unless the hash is stored (dedup). Stored bytes that no longer match their hash
 * are replaced by these, which do: an upload of the same content repairs them, as on LevelDB.
 */
async function putBlob(c: pg.PoolClient, sha256: string, bytes: Uint8Array): Promise<void> {
  if (contentSha256(bytes) !== sha256) throw wessError('INTERNAL', `content does not match its sha256 ${sha256}`);
  await c.query(
    `INSERT INTO wess_blobs (sha256, bytes, size) VALUES ($1, $2, $3)
     ON CONFLICT (sha256) DO UPDATE SET bytes = EXCLUDED.bytes, size = EXCLUDED.size
       WHERE encode(sha256(wess_blobs.bytes), 'hex') <> wess_blobs.sha256`,
    [sha256, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength],
  );
}

async function putKey(c: pg.PoolClient, key: KeyRecord): Promise<void> {
  await c.query('INSERT INTO wess_keys (id, record) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, stored_at = now()', [
    key.id,
    JSON.stringify(key),
  ]);
}

/** Inserts `key` unless its id is taken; the record already stored under it, or undefined when inserted. */
async function insertKeyIfAbsent(c: pg.PoolClient, key: KeyRecord): Promise<KeyRecord | undefined> {
  const res = await c.query('INSERT INTO wess_keys (id, record) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [key.id, JSON.stringify(key)]);
  if (res.rowCount === 1) return undefined;
  return (await c.query<{ record: KeyRecord }>('SELECT record FROM wess_keys WHERE id = $1', [key.id])).rows[0]?.record;
}

/** Revoking twice keeps the first time; a key of another tenant than `tenant` is KEY_NOT_FOUND. */
async function revokeKey(c: pg.PoolClient, id: string, tenant: string | undefined): Promise<KeyRecord> {
  const key = (await c.query<{ record: KeyRecord }>('SELECT record FROM wess_keys WHERE id = $1 FOR UPDATE', [id])).rows[0]?.record;
  if (!key || (tenant !== undefined && key.tenant !== tenant)) throw wessError('KEY_NOT_FOUND', `no key with id ${id}`);
  if (key.revoked_at !== null) return key;
  const revoked: KeyRecord = { ...key, revoked_at: new Date().toISOString() };
  await c.query('UPDATE wess_keys SET record = $2 WHERE id = $1', [id, JSON.stringify(revoked)]);
  return revoked;
}

/**
 * Inserts an audit entry under its id. Ids are a time and a counter per process (auth/audit.ts), so
 * two nodes can make the same one in the same millisecond: an id taken by ANOTHER entry moves this
 * one to the next free counter value. The same entry again (an import run twice) is kept once.
 */
async function insertAudit(c: pg.PoolClient, entry: AuditEntry): Promise<AuditEntry> {
  let current = entry;
  for (let attempt = 0; attempt < 1000; attempt++) {
    const text = JSON.stringify(current);
    const res = await c.query('INSERT INTO wess_audit (id, entry) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [current.id, text]);
    if (res.rowCount === 1) return current;
    const held = await c.query<{ entry: string }>('SELECT entry::text AS entry FROM wess_audit WHERE id = $1', [current.id]);
    if (held.rows[0]?.entry === text) return current;
    current = { ...current, id: nextAuditId(current.id) };
  }
  throw wessError('INTERNAL', `no free audit id after ${entry.id}`);
}

/** The id after `id` in the same millisecond (auth/audit.ts's format: 15-digit ms, 6-digit counter). */
function nextAuditId(id: string): string {
  const [ms = '', seq = '0'] = id.split('-');
  return `${ms}-${String(Number(seq) + 1).padStart(6, '0')}`;
}

/**
 * Adds each key's counts to its stored counters in one upsert per key: nodes flushing at once each add
 * theirs. runs_today adds up within a day, starts again on a later day, and a node's late counts
 * of a day already over do not touch the new day's.
 */
async function addUsage(c: pg.PoolClient, usage: Msg<'put-usage'>['usage']): Promise<Array<{ keyId: string; usage: ReturnType<typeof usageOf> }>> {
  const totals = [];
  for (const { keyId, usage: whole, added } of usage) {
    const res = await c.query<UsageRow>(
      `INSERT INTO wess_key_usage AS u (key_id, runs, errors, cpu_ms, fuel, bytes_in, bytes_out, day, runs_today, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (key_id) DO UPDATE SET
         runs = u.runs + EXCLUDED.runs,
         errors = u.errors + EXCLUDED.errors,
         cpu_ms = u.cpu_ms + EXCLUDED.cpu_ms,
         fuel = coalesce(u.fuel, 0) + EXCLUDED.fuel,
         bytes_in = u.bytes_in + EXCLUDED.bytes_in,
         bytes_out = u.bytes_out + EXCLUDED.bytes_out,
         runs_today = CASE WHEN u.day = EXCLUDED.day THEN u.runs_today + EXCLUDED.runs_today
                           WHEN u.day < EXCLUDED.day THEN EXCLUDED.runs_today
                           ELSE u.runs_today END,
         day = GREATEST(u.day, EXCLUDED.day),
         updated_at = EXCLUDED.updated_at
       RETURNING runs, errors, cpu_ms, fuel, bytes_in, bytes_out, day, runs_today, updated_at`,
      [keyId, added.runs, added.errors, added.cpu_ms, added.fuel, added.bytes_in, added.bytes_out, added.day, added.runs_today, whole.updated_at],
    );
    const row = res.rows[0];
    if (row) totals.push({ keyId, usage: usageOf(row) });
  }
  return totals;
}
