import { DEFAULT_TENANT } from '../auth/types.js';
import { decodeRecord, decodeSchemaVersion, encodeRecord, encodeSchemaVersion, encodeVersion } from './codec.js';
import type { Db, DbOp } from './db.js';
import { legacyRefKey, moduleKey, moduleRange, refKey, SCHEMA_KEY, SCHEMA_VERSION, tenantModuleKey, versionKey } from './keys.js';
import { versionOf } from './history.js';

const EMPTY = new Uint8Array(0);

/** Writes the schema version on a new database, upgrades an older layout, refuses a newer one. */
export async function ensureSchema(db: Db): Promise<void> {
  const stored = await db.get(SCHEMA_KEY);
  if (stored === undefined) {
    await db.batch([schemaOp()], { sync: true });
    return;
  }
  let version = decodeSchemaVersion(stored);
  // Each step is one atomic batch ending with its schema number: a crash mid-way resumes at that step.
  if (version === 1) {
    await migrateFrom1(db);
    version = 2;
  }
  if (version === 2) {
    await migrateFrom2(db);
    version = 3;
  }
  if (version !== SCHEMA_VERSION) {
    throw new Error(`database schema version ${String(version)} is not supported (this Wess uses ${SCHEMA_VERSION})`);
  }
}

/**
 * Schema 1 kept only current records, with one `r!<sha256>!<id>` per module. Each module gets the
 * version record of its current version (older ones were never kept, so history starts there) and
 * a per-version reference; one atomic batch with the new schema number, so a crash redoes it all.
 */
async function migrateFrom1(db: Db): Promise<void> {
  const ops: DbOp[] = [];
  for await (const [, value] of db.entries(moduleRange())) {
    const record = decodeRecord(value);
    ops.push(
      { type: 'put', key: versionKey(record.id, record.version), value: encodeVersion(versionOf(record)) },
      { type: 'put', key: refKey(record.sha256, record.id, record.version), value: EMPTY },
      { type: 'del', key: legacyRefKey(record.sha256, record.id) },
    );
  }
  ops.push(schemaOp(2));
  await db.batch(ops, { sync: true });
}

/**
 * Schema 2 had no tenants: every module was everyone's. They go to tenant "default" (the bootstrap
 * admin's), which keeps them reachable by admins and by keys made for that tenant.
 */
async function migrateFrom2(db: Db): Promise<void> {
  const ops: DbOp[] = [];
  for await (const [, value] of db.entries(moduleRange())) {
    const record = { ...decodeRecord(value), tenant: DEFAULT_TENANT };
    ops.push(
      { type: 'put', key: moduleKey(record.id), value: encodeRecord(record) },
      { type: 'put', key: tenantModuleKey(record.tenant, record.id), value: EMPTY },
    );
  }
  ops.push(schemaOp(3));
  await db.batch(ops, { sync: true });
}

function schemaOp(version = SCHEMA_VERSION): DbOp {
  return { type: 'put', key: SCHEMA_KEY, value: encodeSchemaVersion(version) };
}
