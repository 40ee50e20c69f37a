import type { FastifyInstance } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { authorize } from '../../auth/policy.js';
import type { Principal } from '../../auth/types.js';
import { wessError } from '../../errors.js';
import type { JobEngine } from '../../jobs/engine.js';
import type { ScheduleRecord } from '../../store/job-types.js';
import { nextTick } from '../../store/schedules.js';
import type { Services } from '../../services.js';
import { jobIdParams, scheduleBodyDoc, scheduleFields, scheduleListQuery } from '../job-schemas.js';
import { describeRoute, ref } from '../openapi.js';
import { idParams, parseWith } from '../schemas.js';
import { admitJob, listTenant, visibleTo } from './jobs.js';

const DEFAULT_MAX_ATTEMPTS = 3;

/** A schedule as the API shows it, without the key that made it. */
function scheduleView(schedule: ScheduleRecord): Record<string, unknown> {
  const { key_id: _key, tier: _tier, tenant: _tenant, run, timeout_ms, ...rest } = schedule;
  return { ...rest, ...run, timeout: timeout_ms };
}

async function visibleSchedule(services: Services, principal: Principal, id: string): Promise<ScheduleRecord> {
  return visibleTo(principal, await services.store.jobs.getSchedule(id), () => wessError('SCHEDULE_NOT_FOUND', `no schedule with id ${id}`));
}

/** Registers /modules/{id}/schedules and /schedules. */
export function scheduleRoutes(app: FastifyInstance, services: Services, engine: JobEngine): void {
  const { store } = services;

  app.post('/modules/:id/schedules', describeRoute({
    summary: 'Create a schedule: a job on every tick of a cron expression',
    description:
      'The body is a job\'s (a run\'s body plus callback_url, max_attempts, timeout) with `cron` (five fields, or six with seconds first) and an IANA `timezone` (UTC when absent). ' +
      'Each tick creates one job, whatever the number of nodes; ticks missed while no node ran are run once, when a node is back, and the schedule goes on from the next tick.',
    tags: ['jobs'],
    params: idParams,
    fields: { cron: 'e.g. "*/5 * * * *", or "*/10 * * * * *" with seconds', timezone: 'e.g. "Europe/Berlin"; UTC when absent' },
    body: scheduleBodyDoc,
    responses: { 201: { description: 'The schedule, with its next tick', body: ref('Schedule') } },
    errors: ['VALIDATION', 'INVALID_ARGUMENT', 'UNKNOWN_FUNCTION', 'CALLBACK_NOT_ALLOWED', 'FORBIDDEN', 'MODULE_NOT_FOUND', 'TIER_LIMIT'],
  }), async (request, reply) => {
    const { target, principal, limits, fields, run, timeout } = await admitJob(services, request, scheduleFields);
    const now = new Date();
    const timezone = fields.timezone ?? null;
    const schedule: ScheduleRecord = {
      id: uuidv7(), tenant: target.tenant, module: target.id, cron: fields.cron, timezone, run, timeout_ms: timeout,
      max_attempts: fields.max_attempts ?? DEFAULT_MAX_ATTEMPTS, callback_url: fields.callback_url ?? null, key_id: principal.keyId, tier: limits.tier,
      next_at: nextTick(fields.cron, timezone, now), last_fired_at: null, fired: 0, created_at: now.toISOString(),
    };
    const created = await store.writer.submit({ kind: 'create-schedule', schedule, tier: limits.tier, ...(limits.maxSchedules === undefined ? {} : { maxSchedules: limits.maxSchedules }) });
    request.audit = { action: 'schedule.create', target: created.id, details: { module: target.id, cron: created.cron } };
    engine.wakeAt(Date.parse(created.next_at));
    reply.code(201).header('location', `/schedules/${created.id}`);
    return scheduleView(created);
  });

  app.get('/schedules/:id', describeRoute({
    summary: 'A schedule: its cron expression, next tick and jobs fired',
    tags: ['jobs'],
    params: jobIdParams,
    responses: { 200: { description: 'The schedule', body: ref('Schedule') } },
    errors: ['VALIDATION', 'FORBIDDEN', 'SCHEDULE_NOT_FOUND'],
  }), async (request) => {
    const principal = authorize(request.principal, 'module.run');
    const { id } = parseWith(jobIdParams, request.params, 'path');
    return scheduleView(await visibleSchedule(services, principal, id));
  });

  app.get('/schedules', describeRoute({
    summary: "The tenant's schedules",
    tags: ['jobs'],
    query: scheduleListQuery,
    fields: { module: 'Only schedules of this module', tenant: "Admin keys: only this tenant's schedules" },
    responses: { 200: { description: 'One page of schedules', body: ref('ScheduleList') } },
    errors: ['VALIDATION', 'FORBIDDEN'],
  }), async (request) => {
    const principal = authorize(request.principal, 'module.run');
    const query = parseWith(scheduleListQuery, request.query, 'query');
    const tenant = listTenant(principal, query, 'schedules');
    const page = await store.jobs.listSchedules({ limit: query.limit, cursor: query.cursor, tenant, module: query.module });
    return { items: page.items.map(scheduleView), next_cursor: page.next_cursor };
  });

  app.delete('/schedules/:id', describeRoute({
    summary: 'Delete a schedule (jobs it already created are kept)',
    tags: ['jobs'],
    params: jobIdParams,
    responses: { 204: { description: 'Deleted' } },
    errors: ['VALIDATION', 'FORBIDDEN', 'SCHEDULE_NOT_FOUND'],
  }), async (request, reply) => {
    const principal = authorize(request.principal, 'module.run');
    const { id } = parseWith(jobIdParams, request.params, 'path');
    const schedule = await visibleSchedule(services, principal, id);
    request.audit = { action: 'schedule.delete', target: id, details: { module: schedule.module } };
    await store.writer.submit({ kind: 'delete-schedule', id, tenant: schedule.tenant });
    reply.code(204);
  });
}
