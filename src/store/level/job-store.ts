import type { JobStore } from '../store.js';
import type { JobListOptions, JobPage, JobQueueStats, JobRecord, ScheduleListOptions, SchedulePage, ScheduleRecord } from '../job-types.js';
import { decodeJson } from './codec.js';
import type { Db } from './db.js';
import { isKeySafeId, jobActivePrefix, jobIdOfKey, jobsDueRange, jobKey, jobRange, prefixRange, scheduleKey, scheduleRange, tenantJobPrefix, tenantSchedulePrefix, webhookSecretKey } from './keys.js';

const decoder = new TextDecoder();

/** Jobs under `j!`, listed through `tj!` for one tenant. */
export class LevelJobStore implements JobStore {
  constructor(private readonly db: Db) {}

  async get(id: string): Promise<JobRecord | undefined> {
    if (!isKeySafeId(id)) return undefined;
    const bytes = await this.db.get(jobKey(id));
    return bytes ? decodeJson<JobRecord>(bytes) : undefined;
  }

  /** Filters as it walks the ids after the cursor: a page of a rare status may read many records. */
  async list(options: JobListOptions): Promise<JobPage> {
    const range = options.tenant === undefined ? jobRange() : prefixRange(tenantJobPrefix(options.tenant));
    const wanted = (job: JobRecord) => (options.status === undefined || job.status === options.status) && (options.module === undefined || job.module === options.module);
    return this.#page(range, options, (id) => this.get(id), wanted);
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    if (!isKeySafeId(id)) return undefined;
    const bytes = await this.db.get(scheduleKey(id));
    return bytes ? decodeJson<ScheduleRecord>(bytes) : undefined;
  }

  async listSchedules(options: ScheduleListOptions): Promise<SchedulePage> {
    const range = options.tenant === undefined ? scheduleRange() : prefixRange(tenantSchedulePrefix(options.tenant));
    return this.#page(range, options, (id) => this.getSchedule(id), (s) => options.module === undefined || s.module === options.module);
  }

  /** A page of the records whose ids end the keys of `range`, after the cursor (an id), that pass `wanted`. */
  async #page<T extends { id: string }>(
    range: { gt: string; lt: string },
    options: { limit: number; cursor?: string | null | undefined },
    read: (id: string) => Promise<T | undefined>,
    wanted: (record: T) => boolean,
  ): Promise<{ items: T[]; next_cursor: string | null }> {
    const from = options.cursor ? { gt: range.gt + options.cursor, lt: range.lt } : range;
    const items: T[] = [];
    for await (const key of this.db.keys(from)) {
      const record = await read(jobIdOfKey(key));
      if (!record || !wanted(record)) continue;
      if (items.length === options.limit) return { items, next_cursor: items[items.length - 1]?.id ?? null };
      items.push(record);
    }
    return { items, next_cursor: null };
  }

  /** Sums the tenants' jn! counts, and walks the due index to its first queued job: neither reads every job. */
  async queueStats(): Promise<JobQueueStats> {
    let active = 0;
    for await (const [, bytes] of this.db.entries(prefixRange(jobActivePrefix()))) active += Number(decoder.decode(bytes));
    let oldest: string | null = null;
    for await (const key of this.db.keys({ ...jobsDueRange(new Date().toISOString()) })) {
      const job = await this.get(jobIdOfKey(key));
      if (job?.status === 'queued') {
        oldest = job.due_at;
        break;
      }
    }
    return { active, oldest_due_at: oldest };
  }

  async webhookSecret(tenant: string): Promise<string | undefined> {
    const bytes = await this.db.get(webhookSecretKey(tenant));
    return bytes ? decoder.decode(bytes) : undefined;
  }
}
