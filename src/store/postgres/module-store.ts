import type { Readable } from 'node:stream';
import type pg from 'pg';
import { wessError } from '../../errors.js';
import type { BackupKey } from '../backup-key.js';
import { exportLinesOf, type ExportOptions, type ExportView } from '../export.js';
import type { ModuleStore } from '../store.js';
import type { Inspected, ModuleRecord, VerifyReport, VersionRecord } from '../types.js';
import { verifyVersions, type StoredVersion } from '../verify.js';
import { inspectPgBlob } from './record-source.js';

/**
 * Rows per query when an export or a verification walks a table: keyset pages (`WHERE id > last`),
 * so neither holds more than a page of records (plus one module's versions) in memory.
 */
const PAGE_ROWS = 100;

/** Counting, export and verification over the PostgreSQL tables; no backup archive (see backup()). */
export class PgModuleStore implements ModuleStore {
  constructor(private readonly pool: pg.Pool) {}

  inspectBlob(sha256: string): Promise<Inspected> {
    return inspectPgBlob(this.pool, sha256);
  }

  async countTenantModules(tenant: string): Promise<number> {
    const res = await this.pool.query<{ count: string }>('SELECT count(*) FROM wess_modules WHERE tenant = $1', [tenant]);
    return Number(res.rows[0]?.count ?? 0);
  }

  /** Every line read in one REPEATABLE READ transaction: the store as it was when the export began. */
  async *exportLines(options: ExportOptions, onModule?: (count: number) => void): AsyncGenerator<string> {
    // Opened on the first line asked for, and ended when the lines end, fail, or are abandoned by their reader.
    const snapshot = await openSnapshot(this.pool);
    try {
      yield* exportLinesOf(exportView(snapshot.client), options, onModule);
    } finally {
      await snapshot.end();
    }
  }

  /**
   * Refused before any byte: the LevelDB archive is a dump of LevelDB's keys (restored by `wess
   * restore` into a data directory) and cannot describe this database. PostgreSQL has its own tools
   * for a consistent copy of a live database, and `wess export` moves the modules between stores.
   */
  backup(_key: BackupKey): Readable {
    throw wessError(
      'BACKUP_UNSUPPORTED',
      'this server keeps its data in PostgreSQL, and a Wess backup archive holds a LevelDB data directory: back the database up with pg_dump (or your PostgreSQL backups), or move modules with `wess export`',
    );
  }

  /** Every version's blobs read back and hashed, in one REPEATABLE READ transaction. */
  async verify(): Promise<VerifyReport> {
    const snapshot = await openSnapshot(this.pool);
    try {
      return await verifyVersions(storedVersions(snapshot.client), (sha256) => inspectPgBlob(snapshot.client, sha256));
    } finally {
      await snapshot.end();
    }
  }
}

/**
 * One client inside a read-only REPEATABLE READ transaction: every query on it sees the same
 * snapshot, whatever writers commit meanwhile. `end` closes the transaction and gives the client back.
 */
async function openSnapshot(pool: pg.Pool): Promise<{ client: pg.PoolClient; end(): Promise<void> }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  } catch (err) {
    client.release(err as Error);
    throw err;
  }
  return {
    client,
    async end() {
      // Read only: nothing to commit, and a rollback ends the snapshot all the same. A connection
      // whose rollback failed is in an unknown state: destroyed, not returned to the pool.
      let broken: Error | undefined;
      await client.query('ROLLBACK').catch((err: Error) => {
        broken = err;
      });
      client.release(broken);
    },
  };
}

function exportView(client: pg.PoolClient): ExportView {
  return {
    async *modules(tenant) {
      let after: string | undefined;
      for (;;) {
        const params: unknown[] = [after ?? '', PAGE_ROWS];
        // '' sorts before every id (ids are never empty), so the first page needs no query of its own.
        let sql = 'SELECT id, record FROM wess_modules WHERE id > $1';
        if (tenant !== undefined) {
          params.push(tenant);
          sql += ' AND tenant = $3';
        }
        const res = await client.query<{ id: string; record: ModuleRecord }>(`${sql} ORDER BY id LIMIT $2`, params);
        for (const row of res.rows) yield row.record;
        if (res.rows.length < PAGE_ROWS) return;
        after = res.rows[res.rows.length - 1]?.id;
      }
    },
    async *versions(id) {
      // One module's versions are held anyway: its export line carries them all.
      const res = await client.query<{ record: VersionRecord }>('SELECT record FROM wess_versions WHERE module_id = $1 ORDER BY version', [id]);
      for (const row of res.rows) yield row.record;
    },
    blob: (sha256) => inspectPgBlob(client, sha256),
  };
}

/** Every version in (module, version) order, as LevelDB's `v!` range reads them, in keyset pages. */
async function* storedVersions(client: pg.PoolClient): AsyncGenerator<StoredVersion> {
  let after: { id: string; version: string } = { id: '', version: '0' };
  for (;;) {
    const res = await client.query<{ module_id: string; version: string; record: VersionRecord }>(
      'SELECT module_id, version, record FROM wess_versions WHERE (module_id, version) > ($1, $2) ORDER BY module_id, version LIMIT $3',
      [after.id, after.version, PAGE_ROWS],
    );
    for (const row of res.rows) yield { moduleId: row.module_id, version: Number(row.version), record: row.record };
    const last = res.rows[res.rows.length - 1];
    if (last === undefined || res.rows.length < PAGE_ROWS) return;
    after = { id: last.module_id, version: last.version };
  }
}
