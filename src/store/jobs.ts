import { wessError } from '../errors.js';
import type { Announcement } from './group-writer.js';
import { ENDED, type JobChange, type JobRecord, type JobTask } from './job-types.js';

/*
 * How a job moves between states, as pure functions of its stored record: both engines read the
 * record under their lock (LevelDB's single writer, PostgreSQL's row lock), apply one of these and
 * store what it returns, so a job follows the same rules on either store.
 *
 *   queued ──claim──▶ running ──finish ok──▶ succeeded
 *     ▲  ▲              │  │ └──finish, not retryable──▶ failed
 *     │  └─retryable────┘  └──retryable, attempts used──▶ dead
 *     │   (due at retryAt)    (a lease that ran out is a crash: claimed again, or dead when attempts are used)
 *     └──────────redrive (dead, failed)───────────────────┘
 *   queued ──cancel──▶ cancelled
 */

/** A job's claim: the task it gives the claiming node and the record to store, or undefined when it is not due. */
export function claimJob(job: JobRecord, now: string, leaseMs: number): { next: JobRecord; task: JobTask | undefined } | undefined {
  if (job.due_at === null || job.due_at > now) return undefined;
  const nowMs = Date.parse(now);
  if (ENDED.has(job.status)) {
    // A callback to deliver: held for a lease, so that no other node delivers it at the same time.
    if (job.webhook?.status !== 'pending') return { next: { ...job, due_at: null }, task: undefined };
    const next = { ...job, webhook: { ...job.webhook, attempts: job.webhook.attempts + 1 }, due_at: iso(nowMs + leaseMs) };
    return { next, task: { job: next, action: 'deliver' } };
  }
  if (job.status === 'running' && job.attempts >= job.max_attempts) {
    // The node running its last attempt stopped before it reported: that attempt failed too.
    const error = { code: 'UNAVAILABLE', message: `the node running attempt ${job.attempts} stopped before the run ended` };
    const next = ended(job, 'dead', now, { error });
    return { next, task: { job: next, action: 'dead' } };
  }
  const next: JobRecord = { ...job, status: 'running', attempts: job.attempts + 1, started_at: now, due_at: iso(nowMs + job.timeout_ms + leaseMs) };
  return { next, task: { job: next, action: 'run' } };
}

/** The record after `change`; JOB_STATE when the job's state does not allow it. */
export function changeJob(job: JobRecord, change: JobChange, now: string): JobRecord {
  switch (change.to) {
    case 'finish': {
      if (job.status !== 'running' || job.attempts !== change.attempt) {
        throw wessError('JOB_STATE', `job ${job.id} is no longer running attempt ${change.attempt}`);
      }
      const { outcome } = change;
      if (outcome.ok) return ended(job, 'succeeded', now, { result: outcome.result });
      if (!outcome.retry) return ended(job, 'failed', now, { error: outcome.error });
      if (job.attempts >= job.max_attempts) return ended(job, 'dead', now, { error: outcome.error });
      return { ...job, status: 'queued', error: outcome.error, due_at: outcome.retryAt };
    }
    case 'cancel':
      if (job.status !== 'queued') throw wessError('JOB_STATE', `job ${job.id} is ${job.status}; only a queued job can be cancelled`, { status: job.status });
      return ended(job, 'cancelled', now, {});
    case 'redrive': {
      if (job.status !== 'dead' && job.status !== 'failed') {
        throw wessError('JOB_STATE', `job ${job.id} is ${job.status}; only a dead or failed job can be retried`, { status: job.status });
      }
      const { error: _error, result: _result, ...rest } = job;
      return { ...rest, status: 'queued', attempts: 0, webhook: null, started_at: null, finished_at: null, due_at: now };
    }
    case 'webhook': {
      if (job.webhook?.status !== 'pending') throw wessError('JOB_STATE', `job ${job.id} has no callback to deliver`);
      const error = change.error === undefined ? {} : { last_error: change.error };
      if (change.delivered) return { ...job, webhook: { status: 'delivered', attempts: job.webhook.attempts }, due_at: null };
      if (change.retryAt === null) return { ...job, webhook: { status: 'failed', attempts: job.webhook.attempts, ...error }, due_at: null };
      return { ...job, webhook: { ...job.webhook, ...error }, due_at: change.retryAt };
    }
  }
}

/** A job that ended: its callback, if it has one, is due now. */
function ended(job: JobRecord, status: 'succeeded' | 'failed' | 'dead' | 'cancelled', now: string, outcome: Pick<JobRecord, 'result' | 'error'>): JobRecord {
  const { error: _error, result: _result, ...rest } = job;
  const webhook = job.callback_url !== null && status !== 'cancelled' ? { status: 'pending' as const, attempts: 0 } : null;
  return { ...rest, ...outcome, status, webhook, finished_at: now, due_at: webhook ? now : null };
}

/** True for a job retention may delete: ended, with no callback left to deliver. */
export function isPurgeable(job: JobRecord): boolean {
  return ENDED.has(job.status) && job.due_at === null;
}

/** True while a job counts against its tenant's max_queued_jobs. */
export function isActive(job: JobRecord | undefined): boolean {
  return job !== undefined && (job.status === 'queued' || job.status === 'running');
}

/** The event a change announces: `job.<status>` when the status changed (a retry is announced as queued). */
export function jobEvents(before: JobRecord | undefined, after: JobRecord): Announcement[] {
  if (before !== undefined && before.status === after.status && before.attempts === after.attempts) return [];
  const payload = { id: after.id, tenant: after.tenant, module: after.module, status: after.status, attempts: after.attempts };
  return [{ topic: `job.${after.status}`, payload } as Announcement];
}

/** The refusal when a tenant's queue is full. */
export function queueFull(tenant: string, active: number, limit: number, tier: string | null): Error {
  const suffix = tier ? ` (tier ${tier})` : '';
  return wessError('TIER_LIMIT', `tenant ${tenant} has ${active} jobs queued or running, the most max_queued_jobs allows${suffix}`, { limit, active, tier });
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
