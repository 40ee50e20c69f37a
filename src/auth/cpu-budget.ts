import { wessError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { tierSuffix } from './policy.js';

/** A tenant's bucket: CPU ms it may still use, as of `at`. */
interface Bucket {
  left: number;
  at: number;
}

/** Buckets untouched this long are forgotten once they would have refilled (see sweep). */
const FORGET_AFTER_MS = 120_000;
const SWEEP_EVERY = 1024;

/**
 * A tier's `cpu_ms_per_minute`, per tenant: a bucket of that many CPU ms, refilled continuously at
 * the same rate per minute. A run is admitted while the bucket is not empty and charged its measured
 * CPU time afterwards, so one long call may take the bucket below zero; the tenant then waits until
 * it has refilled to zero (Retry-After says how long). In memory, per process.
 */
export class CpuBudget {
  private readonly buckets = new Map<string, Bucket>();
  private touches = 0;

  /** Throws QUOTA_EXCEEDED (with Retry-After) while `tenant` has used up its CPU for now. */
  admit(tenant: string, perMinute: number | undefined, tier: string | null, metrics: Metrics, now = Date.now()): void {
    if (perMinute === undefined) return;
    const bucket = this.refilled(tenant, perMinute, now);
    if (bucket.left > 0) return;
    metrics.quotaRejections.inc({ tier: tier ?? 'none', quota: 'cpu_ms_per_minute' });
    const waitMs = ((-bucket.left + 1) * 60_000) / perMinute;
    const retry = Math.max(1, Math.ceil(waitMs / 1000));
    throw wessError(
      'QUOTA_EXCEEDED',
      `this tenant has used its ${perMinute} ms of CPU per minute${tierSuffix(tier)}; try again in ${retry} s`,
      { quota: 'cpu_ms_per_minute', limit: perMinute, tier, retry_after_s: retry },
    );
  }

  /** Charges `cpuMs` of CPU to `tenant`. */
  charge(tenant: string, perMinute: number | undefined, cpuMs: number, now = Date.now()): void {
    if (perMinute === undefined || !(cpuMs > 0)) return;
    this.refilled(tenant, perMinute, now).left -= cpuMs;
    if (++this.touches % SWEEP_EVERY === 0) this.sweep(now);
  }

  /** CPU ms `tenant` may still use now (perMinute when it has used none lately). */
  left(tenant: string, perMinute: number, now = Date.now()): number {
    return this.refilled(tenant, perMinute, now).left;
  }

  private refilled(tenant: string, perMinute: number, now: number): Bucket {
    let bucket = this.buckets.get(tenant);
    if (bucket === undefined) {
      bucket = { left: perMinute, at: now };
      this.buckets.set(tenant, bucket);
      return bucket;
    }
    bucket.left = Math.min(perMinute, bucket.left + ((now - bucket.at) * perMinute) / 60_000);
    bucket.at = now;
    return bucket;
  }

  /** Forgets buckets idle for a while that would be positive again (a full one is what a new bucket is). */
  private sweep(now: number): void {
    for (const [tenant, bucket] of this.buckets) {
      if (now - bucket.at > FORGET_AFTER_MS && bucket.left + (now - bucket.at) / 60_000 > 0) this.buckets.delete(tenant);
    }
  }
}
