import type pg from 'pg';
import { wessError } from '../../errors.js';
import type { Applied } from '../group-writer.js';
import { changeJob, claimJob, jobEvents, queueFull } from '../jobs.js';
import type { JobRecord, JobTask } from '../job-types.js';
import type { JobMessage } from '../types.js';
import { applyScheduleMessage } from './apply-schedules.js';

type Msg<K extends JobMessage['kind']> = Extract<JobMessage, { kind: K }>;

/** One job message as SQL, in the writer's transaction; the rules are store/jobs.ts's, as on LevelDB. */
export async function applyJobMessage(c: pg.PoolClient, msg: JobMessage, now: string): Promise<Applied> {
  switch (msg.kind) {
    case 'create-job':
      return createJob(c, msg);
    case 'change-job': {
      const res = await c.query<{ record: JobRecord }>('SELECT record FROM wess_jobs WHERE id = $1 FOR UPDATE', [msg.id]);
      const before = res.rows[0]?.record;
      if (!before || (msg.tenant !== undefined && before.tenant !== msg.tenant)) throw wessError('JOB_NOT_FOUND', `no job with id ${msg.id}`);
      const after = changeJob(before, msg.change, now);
      await updateJob(c, after);
      return { result: after, moduleDelta: 0, events: jobEvents(before, after) };
    }
    case 'claim-jobs':
      return claimJobs(c, msg, now);
    case 'put-webhook-secret':
      await c.query(
        'INSERT INTO wess_webhook_secrets (tenant, secret) VALUES ($1, $2) ON CONFLICT (tenant) DO UPDATE SET secret = EXCLUDED.secret',
        [msg.tenant, msg.secret],
      );
      return { result: null, moduleDelta: 0, events: [] };
    case 'purge-jobs': {
      const res = await c.query(
        `DELETE FROM wess_jobs WHERE id IN (
           SELECT id FROM wess_jobs WHERE created_at < $1 AND due_at IS NULL AND status IN ('succeeded', 'failed', 'dead', 'cancelled')
           ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [msg.before, msg.limit],
      );
      return { result: res.rowCount ?? 0, moduleDelta: 0, events: [] };
    }
    case 'create-schedule':
    case 'delete-schedule':
    case 'fire-schedules':
      return applyScheduleMessage(c, msg, now);
  }
}

/** Under the tenant's row lock: the idempotency look-up and the count of active jobs see every node's creates. */
async function createJob(c: pg.PoolClient, msg: Msg<'create-job'>): Promise<Applied> {
  const { job } = msg;
  await c.query('INSERT INTO wess_tenants (tenant) VALUES ($1) ON CONFLICT (tenant) DO NOTHING', [job.tenant]);
  await c.query('SELECT 1 FROM wess_tenants WHERE tenant = $1 FOR UPDATE', [job.tenant]);
  if (job.idempotency_key !== null) {
    const earlier = await c.query<{ record: JobRecord }>(
      'SELECT record FROM wess_jobs WHERE tenant = $1 AND idempotency_key = $2 AND created_at >= $3 ORDER BY created_at LIMIT 1',
      [job.tenant, job.idempotency_key, msg.idempotentSince],
    );
    const found = earlier.rows[0]?.record;
    if (found) return { result: { job: found, created: false }, moduleDelta: 0, events: [] };
  }
  if (msg.maxActive !== undefined) {
    const res = await c.query<{ count: string }>("SELECT count(*) AS count FROM wess_jobs WHERE tenant = $1 AND status IN ('queued', 'running')", [job.tenant]);
    const active = Number(res.rows[0]?.count ?? 0);
    if (active >= msg.maxActive) throw queueFull(job.tenant, active, msg.maxActive, msg.tier);
  }
  await insertJob(c, job);
  return { result: { job, created: true }, moduleDelta: 0, events: jobEvents(undefined, job) };
}

/** Due jobs no other node holds (SKIP LOCKED), soonest first, each claimed by the shared rule. */
async function claimJobs(c: pg.PoolClient, msg: Msg<'claim-jobs'>, now: string): Promise<Applied> {
  const res = await c.query<{ record: JobRecord }>(
    'SELECT record FROM wess_jobs WHERE due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED',
    [now, msg.limit],
  );
  const tasks: JobTask[] = [];
  const events: Applied['events'] = [];
  for (const { record } of res.rows) {
    const claimed = claimJob(record, now, msg.leaseMs);
    if (!claimed) continue;
    await updateJob(c, claimed.next);
    events.push(...jobEvents(record, claimed.next));
    if (claimed.task) tasks.push(claimed.task);
  }
  return { result: tasks, moduleDelta: 0, events };
}

export async function insertJob(c: pg.PoolClient, job: JobRecord): Promise<void> {
  await c.query(
    `INSERT INTO wess_jobs (id, tenant, module, status, due_at, idempotency_key, created_at, record)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [job.id, job.tenant, job.module, job.status, job.due_at, job.idempotency_key, job.created_at, JSON.stringify(job)],
  );
}

async function updateJob(c: pg.PoolClient, job: JobRecord): Promise<void> {
  await c.query('UPDATE wess_jobs SET status = $2, due_at = $3, record = $4 WHERE id = $1', [job.id, job.status, job.due_at, JSON.stringify(job)]);
}
