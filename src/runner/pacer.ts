import { performance } from 'node:perf_hooks';

/*
 * Paces backlogged tenants when the main thread is the bottleneck. Lanes take turns for workers, but
 * every call also costs main-thread time (parsing, validation, answers), and a tenant that keeps
 * thousands of calls queued in batch runs can keep the main thread saturated by itself: every other
 * tenant's request then waits in the event loop behind its work, however fair the workers are
 * (measured: a light tenant's p99 5 → 40 ms beside a flood of 40 batch runs of 100).
 *
 * So while a light lane (one with less than a bundle waiting) is active, and the event loop was busy
 * in the last window, bulk lanes (more than a bundle waiting) send a bundle at most every `intervalMs`,
 * which doubles while the loop stays busy and shrinks once it has room again. A tenant that sends
 * calls as fast as it is answered (the flood) is answered slower, sends slower, and leaves the main
 * thread room. With no light lane active nothing is paced: a tenant alone gets all of it.
 */

/** How often the event loop's utilization is read and the interval adjusted. */
const WINDOW_MS = 25;
/**
 * Utilization above which bulk lanes are slowed down, and below which they are let go faster: a loop
 * kept under about three quarters busy answers a light tenant within a few ms (noisy-neighbour bench).
 */
const BUSY = 0.7;
const ROOM = 0.4;
/** The interval doubles in a busy window and shrinks by this in a roomy one (slower, so it settles). */
const RELEASE = 0.75;
const MAX_INTERVAL_MS = 50;
/** A light lane counts as active this long after its last bundle. */
const LIGHT_ACTIVE_MS = 1000;

export class Pacer {
  private last = performance.eventLoopUtilization();
  private windowStart = 0;
  private lastBulkAt = 0;
  private lastLightAt = Number.NEGATIVE_INFINITY;
  /** Least time between two bundles of bulk lanes while paced; 0 when not pacing. */
  intervalMs = 0;

  /** Notes a bundle sent, from a bulk lane or a light one. */
  dispatched(bulk: boolean, now: number): void {
    if (bulk) this.lastBulkAt = now;
    else this.lastLightAt = now;
  }

  /** True when a bulk lane may send a bundle now. */
  mayDispatchBulk(now: number): boolean {
    this.update(now);
    if (this.intervalMs === 0 || now - this.lastLightAt > LIGHT_ACTIVE_MS) return true;
    return now - this.lastBulkAt >= this.intervalMs;
  }

  /** True while bulk lanes are being held back (the watchdog then keeps checking). */
  get pacing(): boolean {
    return this.intervalMs > 0;
  }

  private update(now: number): void {
    if (now - this.windowStart < WINDOW_MS) return;
    this.windowStart = now;
    const current = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(current, this.last);
    this.last = current;
    if (utilization > BUSY) this.intervalMs = Math.min(MAX_INTERVAL_MS, Math.max(1, this.intervalMs * 2));
    else if (utilization < ROOM) this.intervalMs = this.intervalMs < 1 ? 0 : this.intervalMs * RELEASE;
  }
}
