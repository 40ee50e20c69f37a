import type pg from 'pg';
import { wessError } from '../../errors.js';
import type { Applied } from '../group-writer.js';
import { jobEvents } from '../jobs.js';
import type { ScheduleRecord } from '../job-types.js';
import { fireSchedule, tooManySchedules } from '../schedules.js';
import type { JobMessage } from '../types.js';
import { insertJob } from './apply-jobs.js';

type ScheduleMessage = Extract<JobMessage, { kind: 'create-schedule' | 'delete-schedule' | 'fire-schedules' }>;

/** One schedule message as SQL, in the writer's transaction. */
export async function applyScheduleMessage(c: pg.PoolClient, msg: ScheduleMessage, now: string): Promise<Applied> {
  switch (msg.kind) {
    case 'create-schedule': {
      const { schedule } = msg;
      if (msg.maxSchedules !== undefined) {
        // The tenant's row lock serialises two nodes creating the tenant's last schedule.
        await c.query('INSERT INTO wess_tenants (tenant) VALUES ($1) ON CONFLICT (tenant) DO NOTHING', [schedule.tenant]);
        await c.query('SELECT 1 FROM wess_tenants WHERE tenant = $1 FOR UPDATE', [schedule.tenant]);
        const res = await c.query<{ count: string }>('SELECT count(*) AS count FROM wess_schedules WHERE tenant = $1', [schedule.tenant]);
        const count = Number(res.rows[0]?.count ?? 0);
        if (count >= msg.maxSchedules) throw tooManySchedules(schedule.tenant, count, msg.maxSchedules, msg.tier);
      }
      await c.query('INSERT INTO wess_schedules (id, tenant, module, next_at, record) VALUES ($1, $2, $3, $4, $5)', [
        schedule.id, schedule.tenant, schedule.module, schedule.next_at, JSON.stringify(schedule),
      ]);
      return { result: schedule, moduleDelta: 0, events: [] };
    }
    case 'delete-schedule': {
      const res = await c.query<{ record: ScheduleRecord }>('DELETE FROM wess_schedules WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) RETURNING record', [msg.id, msg.tenant ?? null]);
      const schedule = res.rows[0]?.record;
      if (!schedule) throw wessError('SCHEDULE_NOT_FOUND', `no schedule with id ${msg.id}`);
      return { result: schedule, moduleDelta: 0, events: [] };
    }
    case 'fire-schedules':
      return fireDue(c, msg.limit, now);
  }
}

/** Due schedules no other node is firing (SKIP LOCKED): each fires once, its next tick stored with its job. */
async function fireDue(c: pg.PoolClient, limit: number, now: string): Promise<Applied> {
  const res = await c.query<{ record: ScheduleRecord; version: string | null; owner: string | null }>(
    `SELECT s.record, m.version, m.tenant AS owner FROM wess_schedules s LEFT JOIN wess_modules m ON m.id = s.module
     WHERE s.next_at <= $1 ORDER BY s.next_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED`,
    [now, limit],
  );
  let fired = 0;
  const events: Applied['events'] = [];
  for (const { record, version, owner } of res.rows) {
    if (version === null || owner !== record.tenant) {
      // Its module was deleted: the schedule can never run again.
      await c.query('DELETE FROM wess_schedules WHERE id = $1', [record.id]);
      continue;
    }
    const { job, next } = fireSchedule(record, now, Number(version));
    await insertJob(c, job);
    await c.query('UPDATE wess_schedules SET next_at = $2, record = $3 WHERE id = $1', [next.id, next.next_at, JSON.stringify(next)]);
    events.push(...jobEvents(undefined, job));
    fired++;
  }
  return { result: fired, moduleDelta: 0, events };
}
