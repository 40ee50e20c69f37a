import type pg from 'pg';
import type { KeyRecord } from '../../auth/types.js';
import type { KeyStore } from '../store.js';

/** API key records in wess_keys, as the JSON they were written as. */
export class PgKeyStore implements KeyStore {
  constructor(private readonly pool: pg.Pool) {}

  /** In id order, as LevelDB's `k!` range reads them. */
  async all(): Promise<KeyRecord[]> {
    const res = await this.pool.query<{ record: KeyRecord }>('SELECT record FROM wess_keys ORDER BY id');
    return res.rows.map((row) => row.record);
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    const res = await this.pool.query<{ record: KeyRecord }>('SELECT record FROM wess_keys WHERE id = $1', [id]);
    return res.rows[0]?.record;
  }
}
