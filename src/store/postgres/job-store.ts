import type pg from 'pg';
import type { JobStore } from '../store.js';
import type { JobListOptions, JobPage, JobQueueStats, JobRecord, ScheduleListOptions, SchedulePage, ScheduleRecord } from '../job-types.js';

/** Jobs in wess_jobs: each row's record is the JobRecord, beside the columns queries select on. */
export class PgJobStore implements JobStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(id: string): Promise<JobRecord | undefined> {
    const res = await this.pool.query<{ record: JobRecord }>('SELECT record FROM wess_jobs WHERE id = $1', [id]);
    return res.rows[0]?.record;
  }

  async list(options: JobListOptions): Promise<JobPage> {
    const res = await this.pool.query<{ record: JobRecord }>(
      `SELECT record FROM wess_jobs
       WHERE ($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR module = $3) AND ($4::text IS NULL OR id > $4)
       ORDER BY id LIMIT $5`,
      [options.tenant ?? null, options.status ?? null, options.module ?? null, options.cursor ?? null, options.limit + 1],
    );
    return pageOf(res.rows.map((row) => row.record), options.limit);
  }

  async queueStats(): Promise<JobQueueStats> {
    const res = await this.pool.query<{ active: string; oldest: Date | null }>(
      `SELECT (SELECT count(*) FROM wess_jobs WHERE status IN ('queued', 'running')) AS active,
              (SELECT min(due_at) FROM wess_jobs WHERE status = 'queued' AND due_at <= now()) AS oldest`,
    );
    const row = res.rows[0];
    return { active: Number(row?.active ?? 0), oldest_due_at: row?.oldest ? row.oldest.toISOString() : null };
  }

  async webhookSecret(tenant: string): Promise<string | undefined> {
    const res = await this.pool.query<{ secret: string }>('SELECT secret FROM wess_webhook_secrets WHERE tenant = $1', [tenant]);
    return res.rows[0]?.secret;
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const res = await this.pool.query<{ record: ScheduleRecord }>('SELECT record FROM wess_schedules WHERE id = $1', [id]);
    return res.rows[0]?.record;
  }

  async listSchedules(options: ScheduleListOptions): Promise<SchedulePage> {
    const res = await this.pool.query<{ record: ScheduleRecord }>(
      `SELECT record FROM wess_schedules
       WHERE ($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR module = $2) AND ($3::text IS NULL OR id > $3)
       ORDER BY id LIMIT $4`,
      [options.tenant ?? null, options.module ?? null, options.cursor ?? null, options.limit + 1],
    );
    return pageOf(res.rows.map((row) => row.record), options.limit);
  }
}

/** The first `limit` of `rows` (read with one more), and the cursor past them when there are more. */
function pageOf<T extends { id: string }>(rows: T[], limit: number): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, next_cursor: rows.length > limit ? (items[items.length - 1]?.id ?? null) : null };
}
