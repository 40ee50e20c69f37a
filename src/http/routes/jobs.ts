import type { FastifyInstance, FastifyRequest } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import type { z } from 'zod';
import { authorize, limitsFor, tenantScope, tierSuffix, type EffectiveLimits } from '../../auth/policy.js';
import type { Principal } from '../../auth/types.js';
import { wessError } from '../../errors.js';
import type { JobEngine } from '../../jobs/engine.js';
import { jobView } from '../../jobs/view.js';
import { checkCallback, newWebhookSecret } from '../../jobs/webhooks.js';
import { checkRun, runFuel, type RunBody } from '../../runs/execute.js';
import type { JobRecord } from '../../store/job-types.js';
import type { ModuleRecord } from '../../store/types.js';
import type { Services } from '../../services.js';
import { jobBodyDoc, jobFields, jobIdParams, jobListQuery, noBody, webhookSecretQuery } from '../job-schemas.js';
import { requestTraceContext } from '../../observability/trace-context.js';
import { describeRoute, ref } from '../openapi.js';
import { idParams, parseWith, runBody } from '../schemas.js';
import { findModule } from './modules.js';

const DEFAULT_MAX_ATTEMPTS = 3;

/** A job's deadline: what it asks for, up to the tier's max_job_timeout; the synchronous limit by default. */
function jobTimeout(requested: number | undefined, limits: EffectiveLimits): number {
  if (requested === undefined) return Math.min(limits.timeoutMs, limits.maxJobTimeoutMs);
  if (requested > limits.maxJobTimeoutMs) {
    throw wessError('VALIDATION', `body.timeout: ${requested} ms is over the job limit of ${limits.maxJobTimeoutMs} ms${tierSuffix(limits.tier)}`, {
      limit: limits.maxJobTimeoutMs,
      tier: limits.tier,
    });
  }
  return requested;
}

/** Splits a body into the fields `schema` knows and the run body, each checked by its own schema. */
function splitBody<S extends z.ZodObject>(raw: unknown, schema: S): { fields: z.output<S>; run: RunBody } {
  const body = raw === undefined ? {} : raw;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw wessError('VALIDATION', 'body must be a JSON object');
  const fields: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) (Object.hasOwn(schema.shape, key) ? fields : rest)[key] = value;
  if ('timeout_ms' in rest) throw wessError('VALIDATION', 'body.timeout_ms: a job takes `timeout` (milliseconds, up to the tier\'s max_job_timeout)');
  return { fields: parseWith(schema, fields, 'body'), run: parseWith(runBody, rest, 'body') };
}

/** A job (or a schedule's jobs) as submitted: the module, who asks, and the body checked as a run would be. */
export interface AdmittedJob<F> {
  target: ModuleRecord;
  principal: Principal;
  limits: EffectiveLimits;
  fields: F;
  run: RunBody;
  timeout: number;
}

/**
 * Checks a job body (or a schedule's) before anything is stored: run rights on the module, the run
 * body against its exports and the tier, the callback host, the timeout.
 */
export async function admitJob<S extends typeof jobFields | z.ZodObject>(services: Services, request: FastifyRequest, schema: S): Promise<AdmittedJob<z.output<S>>> {
  const { fields, run } = splitBody(request.body, schema);
  const target = await findModule(services, request, 'module.run');
  const principal = request.principal as Principal;
  const { config } = services;
  const limits = limitsFor(config, principal);
  if (run.batch !== undefined && run.batch.length > config.limits.max_batch) {
    throw wessError('VALIDATION', `body.batch has ${run.batch.length} items; at most ${config.limits.max_batch} are allowed`);
  }
  runFuel(run.fuel, limits);
  checkRun(services, target, run);
  const { callback_url, timeout } = fields as { callback_url?: string; timeout?: number };
  if (callback_url !== undefined) checkCallback(callback_url, config.jobs.callback_allow);
  return { target, principal, limits, fields, run, timeout: jobTimeout(timeout, limits) };
}

/**
 * A job or schedule if `principal` may see it; otherwise the `missing` error, the same as for one that
 * does not exist: another tenant's, or one of a module outside a scoped key's list.
 */
export function visibleTo<T extends { tenant: string; module: string }>(principal: Principal, record: T | undefined, missing: () => Error): T {
  const hidden = !record || (principal.role !== 'admin' && record.tenant !== principal.tenant) || (principal.modules !== null && !principal.modules.has(record.module));
  if (hidden) throw missing();
  return record;
}

/** The tenant a list of jobs or schedules covers; a key limited to named modules must name one of them. */
export function listTenant(principal: Principal, query: { tenant?: string | undefined; module?: string | undefined }, noun: string): string | undefined {
  const tenant = tenantScope(principal, query.tenant);
  if (principal.modules !== null && (query.module === undefined || !principal.modules.has(query.module))) {
    throw wessError('FORBIDDEN', `a key limited to named modules lists the ${noun} of one of them: give ?module=`);
  }
  return tenant;
}

async function visibleJob(services: Services, principal: Principal, id: string): Promise<JobRecord> {
  return visibleTo(principal, await services.store.jobs.get(id), () => wessError('JOB_NOT_FOUND', `no job with id ${id}`));
}

/** Registers /modules/{id}/jobs, /jobs and /webhook-secret. */
export function jobRoutes(app: FastifyInstance, services: Services, engine: JobEngine): void {
  const { store, metrics, usage } = services;

  app.post('/modules/:id/jobs', describeRoute({
    summary: 'Queue a run as a job',
    description:
      'The body is a run\'s (function, args or batch, or a WASI program\'s args, env and stdin) plus the job fields. ' +
      'The job is stored before the 202; it runs at least once, is retried with exponential backoff after a timeout, UNAVAILABLE or a crash ' +
      '(jobs.retry_codes), fails at once otherwise, and is dead after max_attempts. The same idempotency_key within jobs.idempotency_hours returns the first job.',
    tags: ['jobs'],
    params: idParams,
    fields: {
      callback_url: 'POSTed the job record, signed (Wess-Signature), when the job ends; its host must be in jobs.callback_allow',
      idempotency_key: 'A repeat with the same key returns the first job instead of queuing another',
      max_attempts: 'Runs before the job is dead (default 3)',
      timeout: "Milliseconds per attempt, up to the tier's max_job_timeout (default: the synchronous limit)",
    },
    body: jobBodyDoc,
    bodyOptional: true,
    responses: { 202: { description: 'Queued (or, for a repeated idempotency_key, the first job); Location names it', body: ref('JobAccepted') } },
    errors: ['VALIDATION', 'INVALID_ARGUMENT', 'UNKNOWN_FUNCTION', 'CALLBACK_NOT_ALLOWED', 'FORBIDDEN', 'MODULE_NOT_FOUND', 'TIER_LIMIT', 'QUOTA_EXCEEDED', 'UNAVAILABLE'],
  }), async (request, reply) => {
    const { target, principal, limits, fields, run, timeout } = await admitJob(services, request, jobFields);
    const { config } = services;
    if (principal.keyId) {
      const admitting = usage.admitRun(principal.keyId, limits.runsPerDay, limits.tier, metrics, run.batch?.length ?? 1);
      if (admitting) await admitting;
    }
    const now = new Date().toISOString();
    const job: JobRecord = {
      id: uuidv7(), tenant: target.tenant, module: target.id, version: target.version, status: 'queued', attempts: 0,
      max_attempts: fields.max_attempts ?? DEFAULT_MAX_ATTEMPTS, run, timeout_ms: timeout, key_id: principal.keyId, tier: limits.tier,
      callback_url: fields.callback_url ?? null, idempotency_key: fields.idempotency_key ?? null, schedule_id: null, webhook: null,
      trace: requestTraceContext(request, services.tracing && ((context) => (services.tracing as NonNullable<Services['tracing']>).inject(context))),
      created_at: now, started_at: null, finished_at: null, due_at: now,
    };
    const idempotentSince = new Date(Date.now() - config.jobs.idempotency_hours * 3_600_000).toISOString();
    const created = await store.writer.submit({ kind: 'create-job', job, idempotentSince, tier: limits.tier, ...(limits.maxQueuedJobs === undefined ? {} : { maxActive: limits.maxQueuedJobs }) });
    if (created.created) engine.wake();
    else reply.header('idempotent-replayed', 'true');
    // Not audited, as runs are not: the job itself is the record of who asked for what (key_id).
    reply.code(202).header('location', `/jobs/${created.job.id}`);
    return { id: created.job.id, status: created.job.status };
  });

  app.get('/jobs/:id', describeRoute({
    summary: 'A job: its status, attempts, and result or error',
    tags: ['jobs'],
    params: jobIdParams,
    responses: { 200: { description: 'The job', body: ref('Job') } },
    errors: ['VALIDATION', 'FORBIDDEN', 'JOB_NOT_FOUND'],
  }), async (request) => {
    const principal = authorize(request.principal, 'module.run');
    const { id } = parseWith(jobIdParams, request.params, 'path');
    return jobView(await visibleJob(services, principal, id));
  });

  app.get('/jobs', describeRoute({
    summary: "The tenant's jobs, oldest first; ?status=dead is the dead-letter list",
    tags: ['jobs'],
    query: jobListQuery,
    fields: { status: 'Only jobs with this status', module: 'Only jobs of this module', tenant: 'Admin keys: only this tenant\'s jobs (all tenants\' when absent)' },
    responses: { 200: { description: 'One page of jobs', body: ref('JobList') } },
    errors: ['VALIDATION', 'FORBIDDEN'],
  }), async (request) => {
    const principal = authorize(request.principal, 'module.run');
    const query = parseWith(jobListQuery, request.query, 'query');
    const tenant = listTenant(principal, query, 'jobs');
    const page = await store.jobs.list({ limit: query.limit, cursor: query.cursor, tenant, status: query.status, module: query.module });
    return { items: page.items.map(jobView), next_cursor: page.next_cursor };
  });

  app.delete('/jobs/:id', describeRoute({
    summary: 'Cancel a queued job',
    tags: ['jobs'],
    params: jobIdParams,
    responses: { 200: { description: 'The job, cancelled', body: ref('Job') } },
    errors: ['VALIDATION', 'FORBIDDEN', 'JOB_NOT_FOUND', 'JOB_STATE'],
  }), async (request) => changeRoute(request, 'cancel'));

  app.post('/jobs/:id/retry', describeRoute({
    summary: 'Queue a dead (or failed) job again, its attempts reset',
    tags: ['jobs'],
    params: jobIdParams,
    body: noBody,
    bodyOptional: true,
    responses: { 202: { description: 'The job, queued again', body: ref('Job') } },
    errors: ['VALIDATION', 'FORBIDDEN', 'JOB_NOT_FOUND', 'JOB_STATE'],
  }), async (request, reply) => {
    const view = await changeRoute(request, 'redrive');
    engine.wake();
    reply.code(202);
    return view;
  });

  /** A cancel or a redrive, checked by the store against the job's state as it applies it. */
  async function changeRoute(request: FastifyRequest, to: 'cancel' | 'redrive'): Promise<Record<string, unknown>> {
    const principal = authorize(request.principal, 'module.run');
    const { id } = parseWith(jobIdParams, request.params, 'path');
    const job = await visibleJob(services, principal, id);
    request.audit = { action: to === 'cancel' ? 'job.cancel' : 'job.retry', target: id, details: { module: job.module } };
    const after = await store.writer.submit({ kind: 'change-job', id, tenant: job.tenant, change: { to } });
    return jobView(after);
  }

  app.post('/webhook-secret', describeRoute({
    summary: "Create or rotate the tenant's webhook signing secret",
    description: 'Callbacks carry `Wess-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` under this secret. It is shown this once; a new one replaces it at once.',
    tags: ['jobs'],
    query: webhookSecretQuery,
    body: noBody,
    bodyOptional: true,
    fields: { tenant: "Admin keys: the tenant whose secret to set (the key's own when absent)" },
    responses: { 201: { description: 'The new secret', body: ref('WebhookSecret') } },
    errors: ['VALIDATION', 'FORBIDDEN'],
  }), async (request, reply) => {
    const principal = authorize(request.principal, 'webhook.secret');
    const query = parseWith(webhookSecretQuery, request.query, 'query');
    const tenant = tenantScope(principal, query.tenant) ?? principal.tenant;
    const secret = newWebhookSecret();
    request.audit = { action: 'webhook.secret', target: tenant, tenant };
    await store.writer.submit({ kind: 'put-webhook-secret', tenant, secret });
    reply.code(201);
    return { secret };
  });
}
