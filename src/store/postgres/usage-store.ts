import type pg from 'pg';
import type { KeyUsage } from '../../auth/types.js';
import type { UsageStore } from '../store.js';

/** A wess_key_usage row as pg returns it: bigint columns arrive as strings (they may pass 2^53). */
export interface UsageRow {
  runs: string;
  errors: string;
  cpu_ms: number;
  fuel: number | null;
  bytes_in: string;
  bytes_out: string;
  day: string;
  runs_today: string;
  updated_at: string | null;
}

/** Per-key counters in wess_key_usage: columns, so that several nodes can add to them in one upsert. */
export class PgUsageStore implements UsageStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(keyId: string): Promise<KeyUsage | undefined> {
    const res = await this.pool.query<UsageRow>(
      'SELECT runs, errors, cpu_ms, fuel, bytes_in, bytes_out, day, runs_today, updated_at FROM wess_key_usage WHERE key_id = $1',
      [keyId],
    );
    const row = res.rows[0];
    return row === undefined ? undefined : usageOf(row);
  }
}

/** The KeyUsage shape of auth/types.ts, in its field order; `fuel` absent when never metered, as in LevelDB's JSON. */
export function usageOf(row: UsageRow): KeyUsage {
  return {
    runs: Number(row.runs),
    errors: Number(row.errors),
    cpu_ms: row.cpu_ms,
    ...(row.fuel === null ? {} : { fuel: row.fuel }),
    bytes_in: Number(row.bytes_in),
    bytes_out: Number(row.bytes_out),
    day: row.day,
    runs_today: Number(row.runs_today),
    updated_at: row.updated_at,
  };
}
