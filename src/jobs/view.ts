import type { JobRecord } from '../store/job-types.js';

/**
 * A job as GET /jobs/{id} and its callback show it: what was asked and what came of it, without
 * the bookkeeping (the run body, the key that submitted it, due_at).
 */
export function jobView(job: JobRecord): Record<string, unknown> {
  return {
    id: job.id,
    module: job.module,
    version: job.version,
    status: job.status,
    attempts: job.attempts,
    max_attempts: job.max_attempts,
    ...(job.result !== undefined ? { result: job.result } : {}),
    ...(job.error !== undefined ? { error: job.error } : {}),
    ...(job.status === 'queued' && job.due_at !== null ? { next_attempt_at: job.due_at } : {}),
    callback_url: job.callback_url,
    webhook: job.webhook === null ? null : { status: job.webhook.status, attempts: job.webhook.attempts, ...(job.webhook.last_error === undefined ? {} : { last_error: job.webhook.last_error }) },
    idempotency_key: job.idempotency_key,
    schedule_id: job.schedule_id,
    created_at: job.created_at,
    started_at: job.started_at,
    finished_at: job.finished_at,
  };
}
