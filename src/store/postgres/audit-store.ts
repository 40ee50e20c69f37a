import type pg from 'pg';
import type { AuditEntry } from '../../auth/types.js';
import type { AuditPage, AuditStore } from '../store.js';

/**
 * The audit log in wess_audit. Ids are time-ordered and fixed width (auth/audit.ts) and compared in
 * byte order (COLLATE "C"), so id order is time order: a page is the ids below `before`, newest
 * first, through the primary key or, for one tenant, the (tenant, id) index.
 */
export class PgAuditStore implements AuditStore {
  constructor(private readonly pool: pg.Pool) {}

  async page(options: { limit: number; before?: string | undefined; tenant?: string | undefined }): Promise<AuditPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (options.tenant !== undefined) {
      params.push(options.tenant);
      where.push(`tenant = $${params.length}`);
    }
    if (options.before !== undefined) {
      params.push(options.before);
      where.push(`id < $${params.length}`);
    }
    // One row past the page says whether there is a next one, as the LevelDB store reads it.
    params.push(options.limit + 1);
    const sql = `SELECT entry FROM wess_audit ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`;
    const rows = (await this.pool.query<{ entry: AuditEntry }>(sql, params)).rows;
    const items = rows.slice(0, options.limit).map((row) => row.entry);
    const last = items[items.length - 1];
    return { items, next_cursor: rows.length > options.limit && last ? last.id : null };
  }
}
