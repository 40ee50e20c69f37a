import { Cron } from 'croner';
import { v7 as uuidv7 } from 'uuid';
import { wessError } from '../errors.js';
import type { JobRecord, ScheduleRecord } from './job-types.js';

/**
 * The first tick of `cron` (read in `timezone`, UTC when null) strictly after `after`, as ISO time;
 * VALIDATION for an expression or a zone croner cannot read, or one that never fires again.
 */
export function nextTick(cron: string, timezone: string | null, after: Date): string {
  let next: Date | null;
  try {
    next = new Cron(cron, { paused: true, ...(timezone === null ? {} : { timezone }) }).nextRun(after);
  } catch (err) {
    throw wessError('VALIDATION', `body.cron / body.timezone: ${(err as Error).message}`);
  }
  if (next === null) throw wessError('VALIDATION', `body.cron: ${JSON.stringify(cron)} never fires after ${after.toISOString()}`);
  return next.toISOString();
}

/**
 * Fires a due schedule at `now`: the job it creates (for module version `version`) and the schedule
 * moved to its first tick after now. Ticks missed while no node ran (a restart, an outage) are not
 * made up one by one: they come to this one run, at once, and the schedule goes on from the next
 * tick to come. The job and the move are written together, so a tick fires once, on one node.
 */
export function fireSchedule(schedule: ScheduleRecord, now: string, version: number): { job: JobRecord; next: ScheduleRecord } {
  const job: JobRecord = {
    id: uuidv7(), tenant: schedule.tenant, module: schedule.module, version, status: 'queued', attempts: 0, max_attempts: schedule.max_attempts,
    run: schedule.run, timeout_ms: schedule.timeout_ms, key_id: schedule.key_id, tier: schedule.tier, callback_url: schedule.callback_url,
    idempotency_key: null, schedule_id: schedule.id, webhook: null, created_at: now, started_at: null, finished_at: null, due_at: now,
  };
  const next = { ...schedule, next_at: nextTick(schedule.cron, schedule.timezone, new Date(now)), last_fired_at: now, fired: schedule.fired + 1 };
  return { job, next };
}

/** The refusal when a tenant has all the schedules its tier allows. */
export function tooManySchedules(tenant: string, count: number, limit: number, tier: string | null): Error {
  const suffix = tier ? ` (tier ${tier})` : '';
  return wessError('TIER_LIMIT', `tenant ${tenant} has ${count} schedules, the most max_schedules allows${suffix}`, { limit, count, tier });
}
