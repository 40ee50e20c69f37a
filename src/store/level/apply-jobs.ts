import { wessError } from '../../errors.js';
import { sha256Hex } from '../../hash.js';
import type { Applied } from '../group-writer.js';
import { changeJob, claimJob, isActive, isPurgeable, jobEvents, queueFull } from '../jobs.js';
import type { JobRecord, JobTask } from '../job-types.js';
import type { JobMessage } from '../types.js';
import { decodeJson, encodeJson } from './codec.js';
import { isKeySafeId, jobActiveKey, jobDueKey, jobIdempotencyKey, jobIdOfKey, jobKey, jobRange, jobsDueRange, tenantJobKey, webhookSecretKey } from './keys.js';
import type { Overlay } from './overlay.js';
import { applyScheduleMessage } from './apply-schedules.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Msg<K extends JobMessage['kind']> = Extract<JobMessage, { kind: K }>;

/** Stages a message about jobs; `now` is the batch's time. */
export async function applyJobMessage(msg: JobMessage, overlay: Overlay, now: string): Promise<Applied> {
  switch (msg.kind) {
    case 'create-job':
      return createJob(msg, overlay);
    case 'change-job': {
      const before = await loadJob(msg.id, msg.tenant, overlay);
      const after = changeJob(before, msg.change, now);
      await stageJob(before, after, overlay);
      return { result: after, moduleDelta: 0, events: jobEvents(before, after) };
    }
    case 'claim-jobs':
      return claimJobs(msg, overlay, now);
    case 'put-webhook-secret':
      if (!isKeySafeId(msg.tenant)) throw wessError('VALIDATION', 'tenant must not contain "!"');
      overlay.put(webhookSecretKey(msg.tenant), encoder.encode(msg.secret));
      return { result: null, moduleDelta: 0, events: [] };
    case 'purge-jobs':
      return { result: await purgeJobs(msg, overlay), moduleDelta: 0, events: [] };
    case 'create-schedule':
    case 'delete-schedule':
    case 'fire-schedules':
      return applyScheduleMessage(msg, overlay, now);
  }
}

async function createJob(msg: Msg<'create-job'>, overlay: Overlay): Promise<Applied> {
  const { job } = msg;
  if (!isKeySafeId(job.id) || !isKeySafeId(job.tenant)) throw wessError('VALIDATION', 'job ids and tenants must not contain "!"');
  const idemKey = job.idempotency_key === null ? undefined : jobIdempotencyKey(job.tenant, sha256Hex(encoder.encode(job.idempotency_key)));
  if (idemKey !== undefined) {
    const named = await overlay.get(idemKey);
    const earlier = named ? await readJob(decoder.decode(named), overlay) : undefined;
    if (earlier && earlier.created_at >= msg.idempotentSince) return { result: { job: earlier, created: false }, moduleDelta: 0, events: [] };
  }
  const active = await activeCount(job.tenant, overlay);
  if (msg.maxActive !== undefined && active >= msg.maxActive) throw queueFull(job.tenant, active, msg.maxActive, msg.tier);
  if (idemKey !== undefined) overlay.put(idemKey, encoder.encode(job.id));
  await stageNewJob(job, overlay);
  return { result: { job, created: true }, moduleDelta: 0, events: jobEvents(undefined, job) };
}

/** Claims due jobs, soonest first: each is read again and claimed only if it is still due (claimJob). */
async function claimJobs(msg: Msg<'claim-jobs'>, overlay: Overlay, now: string): Promise<Applied> {
  const tasks: JobTask[] = [];
  const events: Applied['events'] = [];
  // Read a few more than asked: a due key may name a job whose claim only settles it (a callback given up).
  for (const key of await overlay.committedKeys({ ...jobsDueRange(now), limit: msg.limit * 2 })) {
    if (tasks.length >= msg.limit) break;
    const job = await readJob(jobIdOfKey(key), overlay);
    const claimed = job && claimJob(job, now, msg.leaseMs);
    if (!job || !claimed) continue;
    await stageJob(job, claimed.next, overlay);
    events.push(...jobEvents(job, claimed.next));
    if (claimed.task) tasks.push(claimed.task);
  }
  return { result: tasks, moduleDelta: 0, events };
}

/**
 * Deletes ended jobs created before `msg.before`, walking j! from the oldest id (UUIDv7s: creation
 * order) and stopping at the first job that is not old enough.
 */
async function purgeJobs(msg: Msg<'purge-jobs'>, overlay: Overlay): Promise<number> {
  let purged = 0;
  for (const key of await overlay.committedKeys({ ...jobRange(), limit: msg.limit * 2 })) {
    if (purged >= msg.limit) break;
    const job = await readJob(jobIdOfKey(key), overlay);
    if (!job) continue;
    if (job.created_at >= msg.before) break;
    if (!isPurgeable(job)) continue;
    overlay.del(jobKey(job.id));
    overlay.del(tenantJobKey(job.tenant, job.id));
    if (job.idempotency_key !== null) {
      const idemKey = jobIdempotencyKey(job.tenant, sha256Hex(encoder.encode(job.idempotency_key)));
      const named = await overlay.get(idemKey);
      if (named && decoder.decode(named) === job.id) overlay.del(idemKey);
    }
    purged++;
  }
  return purged;
}

/** Writes `after` over `before`: the record, its due key, and the tenant's count of active jobs. */
export async function stageJob(before: JobRecord | undefined, after: JobRecord, overlay: Overlay): Promise<void> {
  overlay.put(jobKey(after.id), encodeJson(after));
  if (before?.due_at && before.due_at !== after.due_at) overlay.del(jobDueKey(before.due_at, before.id));
  if (after.due_at && after.due_at !== before?.due_at) overlay.put(jobDueKey(after.due_at, after.id), EMPTY);
  const delta = Number(isActive(after)) - Number(isActive(before));
  if (delta !== 0) overlay.put(jobActiveKey(after.tenant), encoder.encode(String((await activeCount(after.tenant, overlay)) + delta)));
}

/** A new job: its record, its place in its tenant's list, its due key and count. */
export async function stageNewJob(job: JobRecord, overlay: Overlay): Promise<void> {
  overlay.put(tenantJobKey(job.tenant, job.id), EMPTY);
  await stageJob(undefined, job, overlay);
}

async function activeCount(tenant: string, overlay: Overlay): Promise<number> {
  const stored = await overlay.get(jobActiveKey(tenant));
  return stored ? Number(decoder.decode(stored)) : 0;
}

async function readJob(id: string, overlay: Overlay): Promise<JobRecord | undefined> {
  const bytes = await overlay.get(jobKey(id));
  return bytes ? decodeJson<JobRecord>(bytes) : undefined;
}

/** The job, if `tenant` (when given) owns it: another tenant's answers as a missing one does. */
async function loadJob(id: string, tenant: string | undefined, overlay: Overlay): Promise<JobRecord> {
  const job = isKeySafeId(id) ? await readJob(id, overlay) : undefined;
  if (!job || (tenant !== undefined && job.tenant !== tenant)) throw wessError('JOB_NOT_FOUND', `no job with id ${id}`);
  return job;
}

const EMPTY = new Uint8Array(0);
