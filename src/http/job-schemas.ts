import { z } from 'zod';
import { listQuery, runBody, tenant } from './schemas.js';

/** What a job adds to a run's body; the rest of the body is checked as a run's (runBody). */
export const jobFields = z.object({
  callback_url: z.string().min(1).max(2048).optional(),
  idempotency_key: z.string().min(1).max(256).optional(),
  max_attempts: z.number().int('must be an integer').min(1).max(100).optional(),
  /** Milliseconds; may be above the synchronous limit, up to the tier's max_job_timeout. */
  timeout: z.number().int('must be an integer').positive('must be positive').optional(),
});

/** A run body's fields but its `timeout_ms` (a job takes `timeout`): what the OpenAPI document shows beside the job's own. */
const { timeout_ms: _timeoutMs, ...runFields } = runBody.shape;

/** A job's whole body, for the OpenAPI document (the handler checks the two parts with jobFields and runBody). */
export const jobBodyDoc = z.object({ ...runFields, ...jobFields.shape }).strict();

/** A schedule's fields beside the run body: its cron expression, and its jobs' fields (no idempotency key: each tick is a job). */
export const scheduleFields = jobFields.omit({ idempotency_key: true }).extend({
  cron: z.string().min(1).max(256),
  timezone: z.string().min(1).max(64).optional(),
});

/** A schedule's whole body, for the OpenAPI document. */
export const scheduleBodyDoc = z.object({ ...runFields, ...scheduleFields.shape }).strict();

export const scheduleListQuery = listQuery.extend({ module: z.uuid().optional(), tenant: tenant.optional() }).strict();

export const jobIdParams = z.object({ id: z.string().min(1).max(64).regex(/^[0-9a-f-]+$/, 'must be a job id') });

export const jobListQuery = listQuery
  .extend({
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled']).optional(),
    module: z.uuid().optional(),
    tenant: tenant.optional(),
  })
  .strict();

export const webhookSecretQuery = z.object({ tenant: tenant.optional() }).strict();

/** The body of a POST that takes none: nothing, or `{}`. */
export const noBody = z.object({}).strict();
