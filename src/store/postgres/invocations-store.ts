import type pg from 'pg';
import type { Applied } from '../group-writer.js';
import type { InvocationStore } from '../store.js';
import type { InvocationPage, InvocationRecord, WriteMessage } from '../types.js';

type AppendInvocations = Extract<WriteMessage, { kind: 'append-invocations' }>;

/** Each module's last calls in wess_invocations, a ring of `keep` slots per module (migration 4). */
export class PgInvocationStore implements InvocationStore {
  constructor(private readonly pool: pg.Pool) {}

  async page(module: string, options: Parameters<InvocationStore['page']>[1]): Promise<InvocationPage> {
    const ok = options.status === undefined ? null : options.status === 'ok';
    const res = await this.pool.query<{ record: InvocationRecord }>(
      `SELECT record FROM wess_invocations
        WHERE module_id = $1 AND ($2::bigint IS NULL OR seq < $2) AND ($3::boolean IS NULL OR ok = $3) AND ($4::timestamptz IS NULL OR at >= $4)
        ORDER BY seq DESC LIMIT $5`,
      [module, options.before ?? null, ok, options.since ?? null, options.limit + 1],
    );
    const items = res.rows.slice(0, options.limit).map((row) => row.record);
    return { items, next_cursor: res.rows.length > options.limit ? String((items.at(-1) as InvocationRecord).seq) : null };
  }
}

/**
 * A flush of the invocation log, inside the writer's transaction. Taking a module's numbers locks its
 * seq row, so nodes flushing the same module take turns and never share a number; a module deleted
 * meanwhile takes none and is skipped.
 */
export async function applyInvocations(c: pg.PoolClient, msg: AppendInvocations): Promise<Applied> {
  for (const { module, records } of msg.modules) {
    const taken = await c.query<{ next: string }>(
      `INSERT INTO wess_invocation_seq AS s (module_id, next) SELECT $1, 1 + $2 WHERE EXISTS (SELECT 1 FROM wess_modules WHERE id = $1)
       ON CONFLICT (module_id) DO UPDATE SET next = s.next + $2 RETURNING next`,
      [module, records.length],
    );
    const row = taken.rows[0];
    if (row === undefined) continue;
    // Only the last `keep` can survive this write: the others get their numbers, and no slot.
    const skipped = Math.max(0, records.length - msg.keep);
    const first = Number(row.next) - records.length + skipped;
    const kept = records.slice(skipped).map((draft, i) => ({ seq: first + i, ...draft }) as InvocationRecord);
    await c.query(
      `INSERT INTO wess_invocations (module_id, slot, seq, at, ok, record)
       SELECT $1, * FROM unnest($2::integer[], $3::bigint[], $4::timestamptz[], $5::boolean[], $6::json[])
       ON CONFLICT (module_id, slot) DO UPDATE SET seq = EXCLUDED.seq, at = EXCLUDED.at, ok = EXCLUDED.ok, record = EXCLUDED.record`,
      [module, kept.map((r) => r.seq % msg.keep), kept.map((r) => r.seq), kept.map((r) => r.time), kept.map((r) => r.code === null), kept.map((r) => JSON.stringify(r))],
    );
  }
  return { result: null, moduleDelta: 0, events: [] };
}
