/**
 * The same modules in both engines: written through a real LevelDB store's writer (so every record
 * is shaped as store/records.ts builds it), then copied row for row into a fresh PostgreSQL database
 * with plain SQL, each record as the exact JSON text LevelDB holds. Tests then read both and compare.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { sha256Hex } from '../../../src/hash.js';
import { readBlob } from '../../../src/store/level/blobs.js';
import { decodeCount } from '../../../src/store/level/codec.js';
import type { Db } from '../../../src/store/level/db.js';
import { allVersionsRange, blobRange, moduleRange, sha256OfBlobKey, tenantBytesRange } from '../../../src/store/level/keys.js';
import type { ModuleContent, ModuleRecord } from '../../../src/store/types.js';
import { content, type Store } from '../helper.js';

const text = new TextDecoder('utf-8', { fatal: true });

/** Content with a files image (any bytes: the store never parses the image). */
export function withFiles(label: string): ModuleContent {
  const image = new TextEncoder().encode(`files image ${label}`);
  return { ...content(label), files: { summary: { count: 2, bytes: 10, sha256: sha256Hex(image), size: image.byteLength }, image } };
}

/**
 * Twelve modules over tenants `acme` and `beta`: one with seven versions (a rename, a rollback,
 * files), two sharing content (one blob for both), one deleted. Returns the live records.
 */
export async function writeModules(store: Store): Promise<ModuleRecord[]> {
  const records: ModuleRecord[] = [];
  for (let i = 0; i < 12; i++) {
    const tenant = i % 3 === 0 ? 'beta' : 'acme';
    records.push(await store.writer.submit({ kind: 'create-module', id: randomUUID(), tenant, name: `m${i}`, content: content(i === 5 ? 'shared' : i === 6 ? 'shared' : `c${i}`) }));
  }
  const busy = records[1] as ModuleRecord;
  for (let v = 2; v <= 5; v++) await store.writer.submit({ kind: 'update-module', id: busy.id, content: v === 4 ? withFiles(`v${v}`) : content(`busy v${v}`) });
  await store.writer.submit({ kind: 'rename-module', id: busy.id, name: 'renamed' });
  await store.writer.submit({ kind: 'rollback-module', id: busy.id, toVersion: 4 });
  await store.writer.submit({ kind: 'delete-module', id: (records[7] as ModuleRecord).id });
  const live: ModuleRecord[] = [];
  for (const record of records) {
    const now = await store.reader.getModule(record.id);
    if (now) live.push(now);
  }
  return live;
}

/** Copies LevelDB's modules, versions, blobs and tenant counts into the (migrated, empty) database. */
export async function copyToPostgres(db: Db, pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for await (const [key] of db.entries(blobRange())) {
      const sha256 = sha256OfBlobKey(key);
      const bytes = await readBlob(db, sha256);
      await client.query('INSERT INTO wess_blobs (sha256, bytes, size) VALUES ($1, $2, $3)', [sha256, Buffer.from(bytes ?? []), bytes?.byteLength]);
    }
    // Modules before versions (a version references its module); the module's reference to its
    // current version is deferred to the commit.
    for await (const [, value] of db.entries(moduleRange())) await client.query('INSERT INTO wess_modules (id, record) VALUES ($1, $2)', [JSON.parse(text.decode(value)).id, text.decode(value)]);
    for await (const [, value] of db.entries(allVersionsRange())) {
      const json = text.decode(value);
      const { id, version } = JSON.parse(json) as { id: string; version: number };
      await client.query('INSERT INTO wess_versions (module_id, version, record) VALUES ($1, $2, $3)', [id, version, json]);
    }
    for await (const [key, value] of db.entries(tenantBytesRange())) {
      await client.query('INSERT INTO wess_tenants (tenant, bytes) VALUES ($1, $2)', [key.slice(key.indexOf('!') + 1), decodeCount(value)]);
    }
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}
