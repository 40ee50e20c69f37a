import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ModuleWriter } from '../store/store.js';
import { auditId } from './audit.js';
import type { AuditEntry } from './types.js';

/** Why the auth hook refused a request that carried no valid key. */
export type DenyReason = 'missing' | 'invalid' | 'revoked';

/** One request refused for want of a valid key, as the auth hook answered it. */
export interface Denial {
  /** The client address as the rate limiter counts it (IPv6 grouped by /64). */
  ip: string;
  reason: DenyReason;
  method: string;
  /** The route pattern, or the path when no route matched. */
  route: string;
  requestId: string;
  /** 401, or 429 past rate_limit.anonymous_max, or 503 when the rate limiter could not answer. */
  status: number;
}

const MINUTE_MS = 60_000;
/** How long after a minute ends its entries are written: late enough that its last requests are in. */
const FLUSH_SLACK_MS = 50;
/**
 * Distinct (IP, reason) pairs counted at once. A client behind `trust_proxy` can claim any address,
 * so past this the denials of new addresses are counted together under OTHER_IPS: the audit log
 * and the memory held stay bounded whatever the flood.
 */
export const MAX_DENIAL_BUCKETS = 1000;
/** The `ip` of the entry counting the addresses past MAX_DENIAL_BUCKETS. */
export const OTHER_IPS = '*';

interface Bucket {
  minute: number;
  first: Denial;
  firstAt: number;
  lastAt: number;
  count: number;
  limited: number;
}

export interface DenialLogOptions {
  writer: Pick<ModuleWriter, 'submit'>;
  logger: Logger;
  metrics: Pick<Metrics, 'auditWriteFailures'>;
}

/**
 * Requests refused for want of a valid key, counted per (client IP, reason, minute) and written as
 * one `auth.denied` audit entry each, with a `count`, once the minute is over (and at shutdown).
 * A flood of bogus keys thus costs one durable write per client and minute instead of one per
 * request, and one extra log line instead of an access line per request.
 */
export class DenialLog {
  readonly #options: DenialLogOptions;
  readonly #buckets = new Map<string, Bucket>();
  /** Entries a refused write left behind, written with the next flush. */
  #unwritten: AuditEntry[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: DenialLogOptions) {
    this.#options = options;
  }

  /**
   * Counts one denial. True when it is the first of its (IP, reason, minute): that request keeps its
   * access line; the others are told by the entry's count and one summary line.
   */
  record(denial: Denial, now = Date.now()): boolean {
    const minute = Math.floor(now / MINUTE_MS);
    let first = denial;
    let key = bucketKey(minute, denial.ip, denial.reason);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined && this.#buckets.size >= MAX_DENIAL_BUCKETS) {
      first = { ...denial, ip: OTHER_IPS };
      key = bucketKey(minute, OTHER_IPS, denial.reason);
      bucket = this.#buckets.get(key);
    }
    if (bucket) {
      bucket.count++;
      bucket.lastAt = now;
      if (denial.status === 429) bucket.limited++;
      return false;
    }
    this.#buckets.set(key, { minute, first, firstAt: now, lastAt: now, count: 1, limited: denial.status === 429 ? 1 : 0 });
    this.#schedule(now);
    return true;
  }

  /** Writes every count so far, the running minute's too; resolves once they are durable (or refused). */
  flush(): Promise<void> {
    return this.#enqueue(Number.POSITIVE_INFINITY);
  }

  /** Stops the timer and writes what is left; call before the writer closes. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  #schedule(now: number): void {
    if (this.#timer !== undefined || this.#closed) return;
    const next = (Math.floor(now / MINUTE_MS) + 1) * MINUTE_MS;
    // Unref'd: pending counts never keep the process alive; close() writes them.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const current = Math.floor(Date.now() / MINUTE_MS);
      void this.#enqueue(current).then(() => {
        if (this.#buckets.size > 0 || this.#unwritten.length > 0) this.#schedule(Date.now());
      });
    }, next - now + FLUSH_SLACK_MS).unref();
  }

  /** Flushes run one at a time, so two never write the same buckets. */
  #enqueue(beforeMinute: number): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write(beforeMinute));
    return this.#flushing;
  }

  async #write(beforeMinute: number): Promise<void> {
    const { writer, logger, metrics } = this.#options;
    const entries = this.#unwritten;
    this.#unwritten = [];
    const now = Date.now();
    for (const [key, bucket] of this.#buckets) {
      if (bucket.minute >= beforeMinute) continue;
      this.#buckets.delete(key);
      entries.push(toEntry(bucket, now));
      if (bucket.count > 1) {
        const { ip, reason } = bucket.first;
        logger.info({ ip, reason, count: bucket.count, rate_limited: bucket.limited }, `auth denied ${bucket.count} requests from ${ip} (${reason}) in one minute`);
      }
    }
    if (entries.length === 0) return;
    try {
      await writer.submit({ kind: 'append-audit-batch', entries });
    } catch (err) {
      // Kept for the next flush, up to one minute's worth; at shutdown there is no next one.
      const kept = this.#closed ? [] : entries.slice(-MAX_DENIAL_BUCKETS);
      this.#unwritten = kept;
      const lost = entries.length - kept.length;
      if (lost > 0) metrics.auditWriteFailures.inc(lost);
      logger.error({ err, action: 'auth.denied', entries: entries.length, lost }, 'audit entry could not be written');
      if (kept.length > 0) this.#schedule(now);
    }
  }
}

function bucketKey(minute: number, ip: string, reason: DenyReason): string {
  return `${minute}\n${ip}\n${reason}`;
}

/** The audit entry of one (IP, reason, minute): the first request's id, route and answer; how many there were. */
function toEntry(bucket: Bucket, now: number): AuditEntry {
  const { first } = bucket;
  return {
    // Written when the minute is over, so `at` (and the id, which orders the log) is that time;
    // first_at and last_at say when the requests came.
    id: auditId(now),
    at: new Date(now).toISOString(),
    actor: null,
    tenant: null,
    action: 'auth.denied',
    target: `${first.method} ${first.route}`,
    request_id: first.requestId,
    ip: first.ip,
    status: first.status,
    outcome: 'failure',
    count: bucket.count,
    details: {
      reason: first.reason,
      method: first.method,
      rate_limited: bucket.limited,
      first_at: new Date(bucket.firstAt).toISOString(),
      last_at: new Date(bucket.lastAt).toISOString(),
    },
  };
}
