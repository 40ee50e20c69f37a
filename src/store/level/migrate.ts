import { DEFAULT_TENANT } from '../../auth/types.js';
import { blobPuts } from './blobs.js';
import { decodeBlobPointer, decodeRecord, decodeSchemaVersion, decodeVersion, encodeCount, encodeRecord, encodeSchemaVersion, encodeVersion } from './codec.js';
import type { Db, DbOp, KeyRange } from './db.js';
import { blobRange, legacyRefKey, moduleKey, moduleRange, prefixRange, refKey, SCHEMA_KEY, SCHEMA_VERSION, sha256OfBlobKey, tenantBytesKey, tenantBytesRange, tenantModuleKey, versionKey, versionPrefix } from './keys.js';
import { moduleRecord, versionOf } from '../records.js';

const EMPTY = new Uint8Array(0);

/** Writes the schema version on a new database, upgrades an older layout, refuses a newer one. */
export async function ensureSchema(db: Db): Promise<void> {
  const stored = await db.get(SCHEMA_KEY);
  if (stored === undefined) {
    await db.batch([schemaOp()], { sync: true });
    return;
  }
  // Each step ends with a batch writing the next schema number: a crash mid-way resumes at that step.
  for (let version = decodeSchemaVersion(stored); version !== SCHEMA_VERSION; version++) {
    const step = STEPS[version];
    if (step === undefined) throw new Error(`database schema version ${String(version)} is not supported (this Wess uses ${SCHEMA_VERSION})`);
    await step(db);
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
    const old = decodeRecord(value);
    const record = moduleRecord(old.id, DEFAULT_TENANT, old.version, old, old.created_at, old.updated_at);
    ops.push(
      { type: 'put', key: moduleKey(record.id), value: encodeRecord(record) },
      { type: 'put', key: tenantModuleKey(record.tenant, record.id), value: EMPTY },
    );
  }
  ops.push(schemaOp(3));
  await db.batch(ops, { sync: true });
}

/** Blobs moved per batch: few enough entries and bytes that memory stays small whatever the store holds. */
const MOVE_ENTRIES = 256;
const MOVE_BYTES = 16 * 1024 * 1024;

/**
 * Schema 3 kept the bytes under `b!<sha256>`. Each blob's bytes move to a fresh `c!<content id>` and
 * `b!` becomes a pointer to them, a bounded chunk per sync batch, the schema number last. Unlike the
 * steps before it this one is not a single batch (a store holds gigabytes of blobs), so it is safe
 * to re-run instead: each blob moves whole (both keys in one batch), and a `b!` that already holds
 * a pointer is left as it is, so a run cut short is finished by the next open.
 */
async function migrateFrom3(db: Db): Promise<void> {
  const range = blobRange();
  for (let after: string | undefined = range.gt; after !== undefined; ) {
    const chunk = await blobsToMove(db, { gt: after, lt: range.lt });
    if (chunk.ops.length > 0) await db.batch(chunk.ops, { sync: true });
    after = chunk.last;
  }
  await db.batch([schemaOp(4)], { sync: true });
}

/**
 * The ops moving the next chunk of schema-3 blobs in `range`, and the last key the chunk looked at
 * (undefined once the range is done). A value that is not a pointer is bytes: wasm starts with
 * "\0asm", a pointer with "{". A fresh iterator per chunk, closed before its batch is written.
 */
async function blobsToMove(db: Db, range: KeyRange): Promise<{ ops: DbOp[]; last?: string }> {
  const ops: DbOp[] = [];
  let entries = 0;
  let bytes = 0;
  for await (const [key, value] of db.entries(range)) {
    entries++;
    if (!decodeBlobPointer(value)) {
      for (const put of blobPuts(sha256OfBlobKey(key), value)) ops.push({ type: 'put', ...put });
      bytes += value.byteLength;
    }
    if (entries >= MOVE_ENTRIES || bytes >= MOVE_BYTES) return { ops, last: key };
  }
  return { ops };
}

/**
 * Schema 4 did not count what tenants hold. Each tenant's count is the sum of the sizes of every
 * version of its modules, as the writer keeps it from now on (quota.ts); written with the schema
 * number in one batch (a key per tenant), over any count a cut-short run may have left.
 */
async function migrateFrom4(db: Db): Promise<void> {
  const held = new Map<string, number>();
  for await (const [, value] of db.entries(moduleRange())) {
    const { id, tenant } = decodeRecord(value);
    let bytes = held.get(tenant) ?? 0;
    for await (const [, version] of db.entries(prefixRange(versionPrefix(id)))) bytes += decodeVersion(version).size;
    held.set(tenant, bytes);
  }
  const ops: DbOp[] = [];
  for await (const key of db.keys(tenantBytesRange())) ops.push({ type: 'del', key });
  for (const [tenant, bytes] of held) if (bytes > 0) ops.push({ type: 'put', key: tenantBytesKey(tenant), value: encodeCount(bytes) });
  ops.push(schemaOp(5));
  await db.batch(ops, { sync: true });
}

/**
 * Schema 6 adds no key layout a schema-5 store could hold: a version may now reference a files image
 * (a second r! key and a blob that is not wasm). Its number is what keeps an older Wess, which would
 * show such versions without their files and orphan the images on delete, from opening the store.
 */
async function migrateFrom5(db: Db): Promise<void> {
  await db.batch([schemaOp(6)], { sync: true });
}

/** The step from schema N to N + 1, by N; each writes N + 1 in its last batch. */
const STEPS: Readonly<Record<number, (db: Db) => Promise<void>>> = {
  1: migrateFrom1,
  2: migrateFrom2,
  3: migrateFrom3,
  4: migrateFrom4,
  5: migrateFrom5,
};

function schemaOp(version = SCHEMA_VERSION): DbOp {
  return { type: 'put', key: SCHEMA_KEY, value: encodeSchemaVersion(version) };
}
