import type pg from 'pg';
import { checkBlob } from '../blob-check.js';
import type { RecordSource } from '../reader.js';
import type { Inspected, ModuleRecord, VersionRecord } from '../types.js';

/** A pool, or one client inside a transaction (an export's or a verification's consistent view). */
export type Queryable = pg.Pool | pg.PoolClient;

/*
 * Records are `json` columns, which keep the text as written, and pg parses them with JSON.parse: a
 * record comes back with the same keys in the same order as the writer wrote it, as LevelDB's do.
 * Ids compare in byte order (COLLATE "C" columns), so `ORDER BY id` is LevelDB's key order and the
 * reader's cursors name the same positions on both engines.
 */

/** The reader's reads from the PostgreSQL store (migrations/0001-schema.ts has the tables). */
export class PgRecordSource implements RecordSource {
  constructor(private readonly db: Queryable) {}

  async module(id: string): Promise<ModuleRecord | undefined> {
    const res = await this.db.query<{ record: ModuleRecord }>('SELECT record FROM wess_modules WHERE id = $1', [id]);
    return res.rows[0]?.record;
  }

  async version(id: string, version: number): Promise<VersionRecord | undefined> {
    const res = await this.db.query<{ record: VersionRecord }>('SELECT record FROM wess_versions WHERE module_id = $1 AND version = $2', [id, version]);
    return res.rows[0]?.record;
  }

  async versionsPage(id: string, page: { limit: number; beforeVersion: number | undefined }): Promise<VersionRecord[]> {
    const res =
      page.beforeVersion === undefined
        ? await this.db.query<{ record: VersionRecord }>('SELECT record FROM wess_versions WHERE module_id = $1 ORDER BY version DESC LIMIT $2', [id, page.limit])
        : await this.db.query<{ record: VersionRecord }>(
            'SELECT record FROM wess_versions WHERE module_id = $1 AND version < $2 ORDER BY version DESC LIMIT $3',
            [id, page.beforeVersion, page.limit],
          );
    return res.rows.map((row) => row.record);
  }

  async modulesPage(page: { limit: number; after: string | undefined; tenant: string | undefined; only: ReadonlySet<string> | undefined }): Promise<ModuleRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (condition: (param: string) => string, value: unknown): void => {
      params.push(value);
      where.push(condition(`$${params.length}`));
    };
    if (page.after !== undefined) add((p) => `id > ${p}`, page.after);
    if (page.tenant !== undefined) add((p) => `tenant = ${p}`, page.tenant);
    if (page.only !== undefined) add((p) => `id = ANY(${p}::text[])`, [...page.only]);
    params.push(page.limit);
    const sql = `SELECT record FROM wess_modules ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${params.length}`;
    const res = await this.db.query<{ record: ModuleRecord }>(sql, params);
    return res.rows.map((row) => row.record);
  }

  blob(sha256: string): Promise<Inspected> {
    return inspectPgBlob(this.db, sha256);
  }

  async tenantBytes(tenant: string): Promise<number> {
    // bigint arrives as a string (it may pass 2^53; a tenant's bytes never come near).
    const res = await this.db.query<{ bytes: string }>('SELECT bytes FROM wess_tenants WHERE tenant = $1', [tenant]);
    const row = res.rows[0];
    return row === undefined ? 0 : Number(row.bytes);
  }
}

/**
 * The blob stored under `sha256`, read and hashed. The table's CHECK keeps `size` equal to the bytes'
 * length and the server checksums its pages (when the cluster has data checksums), so what is left to
 * find here is bytes that are gone or no longer hash to their name.
 */
export async function inspectPgBlob(db: Queryable, sha256: string): Promise<Inspected> {
  const res = await db.query<{ bytes: Buffer }>('SELECT bytes FROM wess_blobs WHERE sha256 = $1', [sha256]);
  const bytes = res.rows[0]?.bytes;
  // A plain Uint8Array view of pg's Buffer: a Buffer's slice() is a view, and the reader hands out
  // copies made with slice(), which must not share the cached bytes.
  return checkBlob(sha256, bytes === undefined ? undefined : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
