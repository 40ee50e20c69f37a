import type { JobStore } from '../store.js';
import type { JobListOptions, JobPage, JobQueueStats, JobRecord } from '../job-types.js';
import { decodeJson } from './codec.js';
import type { Db } from './db.js';
import { isKeySafeId, jobIdOfKey, jobKey, jobRange, prefixRange, tenantJobPrefix, webhookSecretKey } from './keys.js';

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
    const prefix = range.gt;
    const from = options.cursor ? { gt: prefix + options.cursor, lt: range.lt } : range;
    const items: JobRecord[] = [];
    for await (const key of this.db.keys(from)) {
      const job = await this.get(jobIdOfKey(key));
      if (!job || (options.status !== undefined && job.status !== options.status) || (options.module !== undefined && job.module !== options.module)) continue;
      if (items.length === options.limit) return { items, next_cursor: items[items.length - 1]?.id ?? null };
      items.push(job);
    }
    return { items, next_cursor: null };
  }

  async queueStats(): Promise<JobQueueStats> {
    let queued = 0;
    let oldest: string | null = null;
    for await (const [, bytes] of this.db.entries(jobRange())) {
      const job = decodeJson<JobRecord>(bytes);
      if (job.status !== 'queued') continue;
      queued++;
      if (oldest === null || job.created_at < oldest) oldest = job.created_at;
    }
    return { queued, oldest_queued_at: oldest };
  }

  async webhookSecret(tenant: string): Promise<string | undefined> {
    const bytes = await this.db.get(webhookSecretKey(tenant));
    return bytes ? decoder.decode(bytes) : undefined;
  }
}
