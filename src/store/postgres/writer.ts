import type pg from 'pg';
import type { Logger } from '../../logger.js';
import type { Applied, Committer, Outcome } from '../group-writer.js';
import type { WriteMessage } from '../types.js';
import { applyMessage } from './apply.js';
import { isConflict, isConnectionError, isRetryable, storeError } from './errors.js';

/** The channel every node LISTENs on; a notification's payload is the newest event seq of the commit. */
export const EVENTS_CHANNEL = 'wess_events';

/** Times one message is applied again after a lost race (a blob deleted under it), before it is refused. */
const ATTEMPTS = 4;
/** Times a group's transaction is run after a deadlock or a serialisation failure, before its messages fail. */
const GROUP_ATTEMPTS = 5;

/**
 * The PostgreSQL half of the group writer: a group is ONE transaction on one connection, each message
 * in its own savepoint (a refused message rolls back to it, the rest go ahead), the group's events
 * numbered and logged as the last step, then COMMIT. Callers are answered after COMMIT returns, so
 * an acknowledged write is on the server's disk (synchronous_commit as the server is configured).
 */
export class PgCommitter implements Committer {
  constructor(
    private readonly pool: pg.Pool,
    private readonly node: string,
    private readonly maxVersions: number,
    private readonly logger: Logger,
  ) {}

  async commit(messages: readonly WriteMessage[]): Promise<Outcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#commitOnce(messages);
      } catch (err) {
        // A deadlock or a serialisation failure: the locks of the group's earlier messages are part
        // of the cycle, so the whole transaction goes again (the other side has committed meanwhile).
        if (!isConflict(err) || attempt >= GROUP_ATTEMPTS) throw storeError(err);
        this.logger.debug({ err, messages: messages.length, attempt }, 'write group conflicted with another node; committing it again');
        await new Promise((resolve) => setTimeout(resolve, attempt * (5 + Math.random() * 20)));
      }
    }
  }

  async #commitOnce(messages: readonly WriteMessage[]): Promise<Outcome[]> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storeError(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const now = new Date().toISOString();
      const outcomes: Outcome[] = [];
      for (const msg of messages) outcomes.push(await this.#applyOne(client, msg, now));
      const applied = outcomes.flatMap((o) => ('applied' in o ? [o.applied] : []));
      if (applied.length === 0) {
        await client.query('ROLLBACK');
        return outcomes;
      }
      await logEvents(client, applied, this.node);
      await client.query('COMMIT');
      return outcomes;
    } catch (err) {
      // Nothing of the group is durable. A connection that failed is not pooled again.
      await client.query('ROLLBACK').catch((rollbackErr: Error) => {
        broken = rollbackErr;
      });
      if (isConnectionError(err)) broken ??= err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /**
   * One message in a savepoint: a refused message rolls back to it alone, and a blob deleted under a
   * new version's foreign key applies it again from there. A conflict goes to commit(), which runs
   * the whole group again.
   */
  async #applyOne(client: pg.PoolClient, msg: WriteMessage, now: string): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      await client.query('SAVEPOINT message');
      try {
        const applied = await applyMessage(client, msg, { now, maxVersions: this.maxVersions });
        await client.query('RELEASE SAVEPOINT message');
        return { applied };
      } catch (err) {
        // The connection itself failed, or the transaction must go again: the whole group does.
        if (isConnectionError(err) || isConflict(err)) throw err;
        await client.query('ROLLBACK TO SAVEPOINT message');
        if (isRetryable(err) && attempt < ATTEMPTS) {
          this.logger.debug({ err, kind: msg.kind, attempt }, 'write raced another node; applying it again');
          continue;
        }
        return { refused: err };
      }
    }
  }
}

/**
 * Numbers the group's events and logs them in wess_events, then notifies the other nodes (delivered
 * at COMMIT). The counters are updated last and held to COMMIT, so numbers follow commit order.
 */
async function logEvents(client: pg.PoolClient, applied: readonly Applied[], node: string): Promise<void> {
  const events = applied.flatMap((a) => a.events);
  if (events.length === 0) return;
  const perTenant = new Map<string, number>();
  for (const event of events) if (isTenantEvent(event.topic)) perTenant.set(event.payload.tenant, (perTenant.get(event.payload.tenant) ?? 0) + 1);
  const tenantNext = new Map<string, number>();
  for (const [tenant, count] of [...perTenant].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const res = await client.query<{ events: string }>(
      `INSERT INTO wess_tenants (tenant, events) VALUES ($1, $2)
       ON CONFLICT (tenant) DO UPDATE SET events = wess_tenants.events + EXCLUDED.events RETURNING events`,
      [tenant, count],
    );
    tenantNext.set(tenant, Number(res.rows[0]?.events) - count + 1);
  }
  const last = Number((await client.query<{ value: string }>("UPDATE wess_counters SET value = value + $1 WHERE name = 'events' RETURNING value", [events.length])).rows[0]?.value);
  let seq = last - events.length + 1;
  const at = new Date().toISOString();
  const rows: Array<[number, string, string | null, number | null, string]> = [];
  for (const event of events) {
    const tenant = isTenantEvent(event.topic) ? event.payload.tenant : null;
    let tenantSeq: number | null = null;
    if (tenant !== null) {
      tenantSeq = tenantNext.get(tenant) as number;
      tenantNext.set(tenant, tenantSeq + 1);
    }
    event.origin = tenantSeq === null ? { seq } : { seq, tenantSeq };
    event.at = at;
    rows.push([seq, event.topic, tenant, tenantSeq, JSON.stringify(event.payload)]);
    seq++;
  }
  await client.query(
    `INSERT INTO wess_events (seq, topic, tenant, tenant_seq, payload, node, at)
     SELECT s, t, te, ts, p::json, $6, $7 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS x(s, t, te, ts, p)`,
    [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3]), rows.map((r) => r[4]), node, at],
  );
  await client.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, String(last)]);
}

/** Events numbered within their tenant (what a tenant's /events stream shows): modules' and jobs'. */
function isTenantEvent(topic: string): boolean {
  return topic.startsWith('module.') || topic.startsWith('job.');
}
