import { cut, type Pending } from './bundle.js';

/**
 * One tenant's calls waiting for a worker, and how many of its bundles run now. Each tenant (a key
 * without a tenant is its own) has a lane; bundles are cut from one lane only and lanes take turns,
 * so a tenant with thousands of queued calls delays another's call by at most one bundle.
 */
export interface Lane {
  readonly key: string;
  /** Calls waiting, oldest first (re-runs and take-backs go back to the front). */
  readonly queue: Pending[];
  /** Bundles of this lane in flight: a bundle runs its calls one after another, so calls running at once. */
  bundles: number;
  /** Bundles this lane may have in flight at once (the tier's max_concurrency, else the pool size). */
  maxConcurrency: number;
  /** Date.now() when the lane last reached its limit of bundles in flight: its calls since then waited on their own tenant. */
  fullAt: number;
  /** True while the lane is in the round-robin ring. */
  inRing: boolean;
  /** A lane of calls nobody waits on (jobs): served after every other lane (dispatcher.ts). */
  readonly background: boolean;
}

/**
 * The lanes, and a round-robin ring of those with calls waiting. A lane with nothing queued, running
 * or suspected is forgotten, so the map holds only tenants active now.
 */
export class Lanes {
  private readonly byKey = new Map<string, Lane>();
  private readonly ring: Lane[] = [];
  private cursor = 0;
  /** Calls waiting over every lane. */
  queued = 0;

  /** The lane of `key`, made on first use (a background lane's key must differ from every foreground one's); `maxConcurrency` as the latest call says (a config reload may change it). */
  lane(key: string, maxConcurrency: number, background = false): Lane {
    let lane = this.byKey.get(key);
    if (lane === undefined) {
      lane = { key, queue: [], bundles: 0, maxConcurrency, fullAt: 0, inRing: false, background };
      this.byKey.set(key, lane);
    }
    lane.maxConcurrency = maxConcurrency;
    return lane;
  }

  /** Queues calls at the back of their lane. */
  push(lane: Lane, calls: Pending[]): void {
    for (const call of calls) lane.queue.push(call);
    this.queued += calls.length;
    this.enter(lane);
  }

  /** Queues calls at the front of their lane: they have waited already. */
  unshift(lane: Lane, calls: Pending[]): void {
    if (calls.length === 0) return;
    lane.queue.unshift(...calls);
    this.queued += calls.length;
    this.enter(lane);
  }

  /**
   * Takes about `n` calls off the front of a lane (more, to keep a runBatch together: see cut()); with
   * `alone`, a call it picks goes out by itself: alone when at the front, else the bundle ends before it.
   */
  take(lane: Lane, n: number, alone?: (call: Pending) => boolean): Pending[] {
    let calls: Pending[];
    if (alone === undefined) calls = cut(lane.queue, n);
    else {
      // Only the first n can be in this bundle: a backlogged lane's whole queue is not scanned per dispatch.
      let first = -1;
      for (let i = 0, end = Math.min(n, lane.queue.length); i < end; i++) {
        if (alone(lane.queue[i]!)) {
          first = i;
          break;
        }
      }
      calls = first === 0 ? lane.queue.splice(0, 1) : cut(lane.queue, first === -1 ? n : first);
    }
    this.queued -= calls.length;
    return calls;
  }

  /**
   * Takes out the calls for which `expired` is true (they answer instead of running): those at the
   * front, or with `all` every one (deadlines differ per call, so one may pass before the head's).
   */
  expire(lane: Lane, expired: (call: Pending) => boolean, all: boolean): Pending[] {
    let gone: Pending[];
    if (!all) {
      let n = 0;
      while (n < lane.queue.length && expired(lane.queue[n] as Pending)) n++;
      gone = lane.queue.splice(0, n);
    } else {
      gone = lane.queue.filter(expired);
      if (gone.length > 0) {
        const kept = lane.queue.filter((call) => !expired(call));
        lane.queue.splice(0, lane.queue.length, ...kept);
      }
    }
    this.queued -= gone.length;
    return gone;
  }

  /**
   * The next lane in turn that has calls waiting and passes `eligible`, or undefined after one full
   * turn without one. Lanes left with nothing queued leave the ring here.
   */
  next(eligible: (lane: Lane) => boolean): Lane | undefined {
    for (let seen = 0; seen < this.ring.length; ) {
      if (this.cursor >= this.ring.length) this.cursor = 0;
      const lane = this.ring[this.cursor] as Lane;
      if (lane.queue.length === 0) {
        this.ring.splice(this.cursor, 1);
        lane.inRing = false;
        this.release(lane);
        continue;
      }
      this.cursor++;
      seen++;
      if (eligible(lane)) return lane;
    }
    return undefined;
  }

  /** Every lane with calls waiting. */
  waiting(): readonly Lane[] {
    return this.ring;
  }

  /** Forgets a lane with nothing queued or running (its suspicion lives in Suspects, not here). */
  release(lane: Lane): void {
    if (lane.queue.length === 0 && lane.bundles === 0 && !lane.inRing) this.byKey.delete(lane.key);
  }

  /** Takes every waiting call out of every lane (shutdown). */
  drain(): Pending[] {
    const all = this.ring.flatMap((lane) => lane.queue.splice(0));
    this.queued = 0;
    return all;
  }

  private enter(lane: Lane): void {
    if (lane.inRing) return;
    lane.inRing = true;
    // A lane released when its last bundle ended may get that bundle's re-runs back.
    if (!this.byKey.has(lane.key)) this.byKey.set(lane.key, lane);
    // At the cursor: a lane that was idle is served next, so a light tenant's call never waits for a
    // turn of every backlogged tenant, only for the bundle a worker is running now.
    this.ring.splice(this.cursor, 0, lane);
  }
}
