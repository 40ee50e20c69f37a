/*
 * Jobs as the store keeps them. A job is one run (the same body as POST /modules/{id}/run) made
 * later, by whichever node claims it, with its outcome and its callback's delivery kept beside it.
 * One field drives every engine's work queue: `due_at`, when a node should next look at the job
 * (queued: when it may run; running: when its lease ends; ended with a callback to make: when the
 * next delivery is due); null when nothing is left to do.
 */

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead' | 'cancelled';

/** Statuses a job never leaves by itself (a retry redrives dead and failed ones). */
export const ENDED: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'dead', 'cancelled']);

export interface JobError {
  code: string;
  message: string;
}

/** The callback of an ended job: pending until delivered, failed after jobs.webhook_attempts tries. */
export interface JobWebhook {
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  last_error?: string;
}

export interface JobRecord {
  /** A UUIDv7: ids sort by creation time. */
  id: string;
  tenant: string;
  module: string;
  /** The module version the job runs: the current one when it was submitted. */
  version: number;
  status: JobStatus;
  /** Runs started so far (a run cut short by a crash counts). */
  attempts: number;
  max_attempts: number;
  /** The run body: function, args or batch, or a WASI program's args, env and stdin. */
  run: Record<string, unknown>;
  timeout_ms: number;
  /** Who submitted it, for the limits and the usage its runs count against. */
  key_id: string | null;
  tier: string | null;
  callback_url: string | null;
  idempotency_key: string | null;
  /** The schedule that created it, if one did. */
  schedule_id: string | null;
  /** The trace the submission was part of (W3C headers): its runs and its webhook continue it. Absent: none. */
  trace?: { traceparent: string; tracestate?: string } | null;
  /** The run's answer, as POST /run would have given it. */
  result?: Record<string, unknown>;
  /** The last attempt's error (kept while the job waits for its retry). */
  error?: JobError;
  webhook: JobWebhook | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  due_at: string | null;
}

/** What a run of a job ended with, as the node that ran it reports it. */
export type JobOutcome =
  | { ok: true; result: Record<string, unknown> }
  /** `retry`: the error is one after which the job may be tried again (jobs.retry_codes); `retryAt` when. */
  | { ok: false; error: JobError; retry: boolean; retryAt: string };

/** A change to one job, checked against its stored state by the store as it applies it (JOB_STATE when it does not fit). */
export type JobChange =
  /** The run of attempt `attempt` ended; ignored (JOB_STATE) when the job was taken again meanwhile. */
  | { to: 'finish'; attempt: number; outcome: JobOutcome }
  | { to: 'cancel' }
  /** A dead or failed job is queued again with its attempts reset. */
  | { to: 'redrive' }
  /** A callback delivery ended: delivered, to be tried again at `retryAt`, or given up. */
  | { to: 'webhook'; delivered: boolean; error?: string; retryAt: string | null };

/** What a node is to do with a job it claimed. */
/**
 * What a claim gives the claiming node: a run, a callback to deliver, or (dead) a job it settled as
 * dead because the node running its last attempt stopped: nothing to do but count the outcome.
 */
export type JobTask = { job: JobRecord; action: 'run' | 'deliver' | 'dead' };

export interface JobPage {
  items: JobRecord[];
  next_cursor: string | null;
}

export interface JobListOptions {
  limit: number;
  cursor?: string | null | undefined;
  /** Only this tenant's jobs; every tenant's when absent (an admin). */
  tenant?: string | undefined;
  status?: JobStatus | undefined;
  module?: string | undefined;
}

/** The queue gauges' figures, over every tenant. */
export interface JobQueueStats {
  /** Jobs queued or running. */
  active: number;
  /** due_at of the queued job that has been due longest (its wait for a worker began then), or null. */
  oldest_due_at: string | null;
}

/**
 * A schedule: a job template and a cron expression. `next_at` is its next tick; a node fires a due
 * schedule by creating its job and moving `next_at` to the first tick after now, in one write.
 */
export interface ScheduleRecord {
  id: string;
  tenant: string;
  module: string;
  /** Five fields (minutes) or six (seconds first), as croner reads them. */
  cron: string;
  /** An IANA time zone the cron expression is read in; null: UTC. */
  timezone: string | null;
  run: Record<string, unknown>;
  timeout_ms: number;
  max_attempts: number;
  callback_url: string | null;
  key_id: string | null;
  tier: string | null;
  next_at: string;
  last_fired_at: string | null;
  /** Jobs it has created. */
  fired: number;
  created_at: string;
}

export interface SchedulePage {
  items: ScheduleRecord[];
  next_cursor: string | null;
}

export interface ScheduleListOptions {
  limit: number;
  cursor?: string | null | undefined;
  tenant?: string | undefined;
  module?: string | undefined;
}
