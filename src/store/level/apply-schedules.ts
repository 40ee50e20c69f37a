import { wessError } from '../../errors.js';
import type { Applied } from '../group-writer.js';
import { jobEvents } from '../jobs.js';
import type { ScheduleRecord } from '../job-types.js';
import { fireSchedule, tooManySchedules } from '../schedules.js';
import type { JobMessage } from '../types.js';
import { stageNewJob } from './apply-jobs.js';
import { decodeJson, decodeRecord, encodeJson } from './codec.js';
import { isKeySafeId, jobIdOfKey, moduleKey, scheduleDueKey, scheduleKey, schedulesDueRange, tenantScheduleKey, tenantSchedulePrefix } from './keys.js';
import type { Overlay } from './overlay.js';

type ScheduleMessage = Extract<JobMessage, { kind: 'create-schedule' | 'delete-schedule' | 'fire-schedules' }>;

/** Stages a message about schedules; `now` is the batch's time. */
export async function applyScheduleMessage(msg: ScheduleMessage, overlay: Overlay, now: string): Promise<Applied> {
  switch (msg.kind) {
    case 'create-schedule': {
      const { schedule } = msg;
      if (!isKeySafeId(schedule.id) || !isKeySafeId(schedule.tenant)) throw wessError('VALIDATION', 'schedule ids and tenants must not contain "!"');
      if (msg.maxSchedules !== undefined) {
        const count = (await overlay.entries(tenantSchedulePrefix(schedule.tenant))).length;
        if (count >= msg.maxSchedules) throw tooManySchedules(schedule.tenant, count, msg.maxSchedules, msg.tier);
      }
      overlay.put(tenantScheduleKey(schedule.tenant, schedule.id), EMPTY);
      stageSchedule(undefined, schedule, overlay);
      return { result: schedule, moduleDelta: 0, events: [] };
    }
    case 'delete-schedule': {
      const schedule = isKeySafeId(msg.id) ? await readSchedule(msg.id, overlay) : undefined;
      if (!schedule || (msg.tenant !== undefined && schedule.tenant !== msg.tenant)) throw wessError('SCHEDULE_NOT_FOUND', `no schedule with id ${msg.id}`);
      dropSchedule(schedule, overlay);
      return { result: schedule, moduleDelta: 0, events: [] };
    }
    case 'fire-schedules':
      return fireDue(msg.limit, overlay, now);
  }
}

async function fireDue(limit: number, overlay: Overlay, now: string): Promise<Applied> {
  let fired = 0;
  const events: Applied['events'] = [];
  for (const key of await overlay.committedKeys({ ...schedulesDueRange(now), limit })) {
    const schedule = await readSchedule(jobIdOfKey(key), overlay);
    if (!schedule || schedule.next_at > now) continue;
    const moduleBytes = await overlay.get(moduleKey(schedule.module));
    const module = moduleBytes ? decodeRecord(moduleBytes) : undefined;
    if (!module || module.tenant !== schedule.tenant) {
      // Its module was deleted: the schedule can never run again.
      dropSchedule(schedule, overlay);
      continue;
    }
    const { job, next } = fireSchedule(schedule, now, module.version);
    await stageNewJob(job, overlay);
    stageSchedule(schedule, next, overlay);
    events.push(...jobEvents(undefined, job));
    fired++;
  }
  return { result: fired, moduleDelta: 0, events };
}

function stageSchedule(before: ScheduleRecord | undefined, after: ScheduleRecord, overlay: Overlay): void {
  overlay.put(scheduleKey(after.id), encodeJson(after));
  if (before && before.next_at !== after.next_at) overlay.del(scheduleDueKey(before.next_at, before.id));
  if (before?.next_at !== after.next_at) overlay.put(scheduleDueKey(after.next_at, after.id), EMPTY);
}

function dropSchedule(schedule: ScheduleRecord, overlay: Overlay): void {
  overlay.del(scheduleKey(schedule.id));
  overlay.del(tenantScheduleKey(schedule.tenant, schedule.id));
  overlay.del(scheduleDueKey(schedule.next_at, schedule.id));
}

async function readSchedule(id: string, overlay: Overlay): Promise<ScheduleRecord | undefined> {
  const bytes = await overlay.get(scheduleKey(id));
  return bytes ? decodeJson<ScheduleRecord>(bytes) : undefined;
}

const EMPTY = new Uint8Array(0);
