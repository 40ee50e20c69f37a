import { wessError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { buildBundle, newGroup, NO_GROUP, ownCalls, takeBack, type Bundle, type CallRequest, type Pending } from './bundle.js';
import { Lanes, type Lane } from './lanes.js';
import { internal, stoppedAtDeadline, unavailable } from './outcomes.js';
import { Pacer } from './pacer.js';
import { CONTROL, IDLE, NOT_STARTED, outcomesOf, type BundleReply, type BundleTask, type CallOutcome } from './protocol.js';
import { runawayKey, Suspects } from './suspects.js';
import { runningCall, Watchdog } from './watchdog.js';

/*
 * Fair bundling with deadlines. Each tenant's calls wait in its own lane (lanes.ts); whenever
 * there is room, lanes take turns to send a bundle, one lane's calls per bundle, so the main → worker
 * hop is paid once per bundle and a tenant's backlog delays another tenant by at most one bundle.
 *
 * Room: a lane may have `maxConcurrency` bundles in flight (its tier's max_concurrency, else the pool
 * size); all lanes together `workers + spare` bundles, plus one for every bundle whose call has run
 * longer than longCallMs (such calls no longer take room from short ones), up to maxThreads. Piscina
 * starts a thread for a bundle that finds none idle and retires it when idle.
 *
 * A watchdog tick reads each bundle's control block:
 * - a call running past takeBackAfterMs has the calls behind it taken back and queued again at the
 *   front of its lane, so they do not wait for a slow (maybe endless) neighbour;
 * - a call running past its deadline gets its worker terminated. Piscina fails the task and replaces
 *   the thread; the call answers EXECUTION_TIMEOUT and the calls of the bundle that ran before it
 *   (their answers died with the worker) are queued again: a fresh instance per call and no imports
 *   but an in-memory WASI process make a re-run safe. Its lane and its (module, function) become
 *   suspects (suspects.ts).
 *
 * Deadlines count from when a call is accepted, waiting included: a client's timeout is how long it
 * waits for an answer. A call still waiting at its deadline answers EXECUTION_TIMEOUT when its own
 * lane held all its room (the tenant's own calls kept it waiting), UNAVAILABLE when the pool did.
 * The one exception: a call re-run after its worker was stopped for another call of the bundle gets a
 * whole timeout again (bundle.ts, Pending.deadline).
 */

export type { CallRequest } from './bundle.js';

export interface DispatcherOptions {
  workers: number;
  /** Threads kept beyond `workers`, so a call can start while a killed worker is being replaced. */
  spareThreads: number;
  /** Most threads at once; threads beyond workers + spare exist only while long calls hold the others. */
  maxThreads: number;
  /** A call running longer than this stops taking room from short calls. */
  longCallMs: number;
  maxBundle: number;
  /** Calls one lane may have waiting. */
  queueLimit: number;
  watchdogIntervalMs: number;
  takeBackAfterMs: number;
  maxReruns: number;
  suspectTtlMs: number;
  runTask: (task: BundleTask) => Promise<BundleReply>;
  /** Terminates the worker thread; false when no such thread is in the pool. */
  terminate: (threadId: number) => boolean;
  /** Threads up and able to take a bundle (not those still starting after a kill). */
  readyThreads: () => number;
  metrics: Metrics;
  logger: Logger;
}

/** How often queued calls are all checked for a passed deadline (heads are checked on every flush). */
const FULL_EXPIRY_SCAN_MS = 50;
const MAX_SUSPECTS = 10_000;

export class Dispatcher {
  private readonly lanes = new Lanes();
  private readonly inFlight = new Set<Bundle>();
  /** Tenants that timed out recently, and their (module, function) pairs that did (suspects.ts). */
  private readonly suspects: Suspects;
  private readonly runaways: Suspects;
  private readonly pacer = new Pacer();
  private readonly watchdog: Watchdog;
  private flushScheduled = false;
  private stopped = false;
  private lastCrashedThread = 0;
  private lastFullScan = 0;
  /** Bundles in flight whose call has run longer than longCallMs. */
  private longBundles = 0;
  /** Bundles of background lanes in flight. */
  private backgroundBundles = 0;
  /** Calls in dispatched bundles that have not answered. */
  inFlightCalls = 0;

  constructor(private readonly options: DispatcherOptions) {
    this.suspects = new Suspects(options.suspectTtlMs, MAX_SUSPECTS);
    this.runaways = new Suspects(options.suspectTtlMs, MAX_SUSPECTS);
    this.watchdog = new Watchdog(options.watchdogIntervalMs, () => this.tick());
  }

  /** Calls waiting for a worker, over all lanes. */
  get queued(): number {
    return this.lanes.queued;
  }

  /** Bundles that may be in flight now. */
  get capacity(): number {
    return Math.min(this.options.maxThreads, this.options.workers + this.options.spareThreads + this.longBundles);
  }

  /** Queues a call in its lane; throws UNAVAILABLE when closing or when the lane's queue is full. */
  submit(request: CallRequest): Promise<CallOutcome> {
    const lane = this.laneOf(request);
    this.admit(lane, 1);
    return new Promise((done) => {
      this.lanes.push(lane, [this.pending(request, lane, Date.now(), NO_GROUP, done)]);
      this.scheduleFlush();
    });
  }

  /**
   * Queues calls that go out together in one bundle (a runBatch), each still answered on its own;
   * throws UNAVAILABLE when closing or when the lane has no room for all of them.
   */
  submitGroup(requests: CallRequest[]): Promise<CallOutcome>[] {
    if (requests.length === 0) return [];
    const lane = this.laneOf(requests[0] as CallRequest);
    this.admit(lane, requests.length);
    const group = newGroup();
    const now = Date.now();
    const calls: Pending[] = [];
    const answers = requests.map((request) => new Promise<CallOutcome>((done) => calls.push(this.pending(request, lane, now, group, done))));
    this.lanes.push(lane, calls);
    this.scheduleFlush();
    return answers;
  }

  /** A thread has come up: calls waiting for one may go. */
  wake(): void {
    if (this.lanes.queued > 0) this.scheduleFlush();
  }

  /** Until when (Date.now() ms) `lane` is suspected for a recent timeout, or undefined. */
  suspectUntil(lane: string): number | undefined {
    return this.suspects.expiry(lane, Date.now());
  }

  private laneOf(request: CallRequest): Lane {
    return this.lanes.lane(request.lane, request.maxConcurrency ?? this.options.workers, request.background);
  }

  private pending(request: CallRequest, owner: Lane, now: number, group: number, done: (outcome: CallOutcome) => void): Pending {
    // Built field by field: a spread here showed up as the top main-thread cost in profiles.
    const { sha256, compiled, fn, args, bridge, wasi, timeoutMs, lane, maxConcurrency, fuel, phases } = request;
    return { sha256, compiled, fn, args, bridge, wasi, timeoutMs, lane, maxConcurrency, fuel, phases, owner, acceptedAt: now, deadline: now + timeoutMs, reruns: 0, group, done };
  }

  private admit(lane: Lane, calls: number): void {
    if (this.stopped) throw wessError('UNAVAILABLE', 'the runner has shut down');
    if (lane.queue.length + calls > this.options.queueLimit) {
      const asked = calls === 1 ? '' : ` (this batch adds ${calls})`;
      throw wessError('UNAVAILABLE', `${lane.queue.length} calls of this tenant are already waiting for a worker${asked}; try again shortly`);
    }
  }

  /** Answers every queued call UNAVAILABLE; bundles failing from now on (pool destroyed) answer the same. */
  stop(): void {
    this.stopped = true;
    this.watchdog.disarm();
    const message = 'the runner shut down before the call started';
    for (const call of this.lanes.drain()) call.done(unavailable(message, call, Date.now()));
    this.afterChange();
  }

  // Calls arriving in one event-loop turn (one I/O poll phase) go out together.
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const now = Date.now();
    this.expireWaiting(now, false);
    while (this.inFlight.size < this.capacity) {
      const ready = (l: Lane) => l.bundles < this.laneLimit(l) && this.mayTakeThread(l, now) && (!this.isBulk(l) || this.pacer.mayDispatchBulk(now));
      // Background lanes (jobs) go only when no other lane can, and never take the last worker.
      const lane = this.lanes.next((l) => !l.background && ready(l)) ?? (this.backgroundRoom() ? this.lanes.next((l) => l.background && ready(l)) : undefined);
      if (lane === undefined) break;
      this.pacer.dispatched(this.isBulk(lane), now);
      this.dispatch(lane, this.lanes.take(lane, this.bundleSize(lane), this.runawayTest(now)), now);
    }
    this.afterChange();
  }

  /**
   * A suspected lane never takes the last thread that is up and idle: after its loops were stopped,
   * their threads are being replaced, and the next loop would otherwise leave another tenant's call
   * waiting for a thread to start (measured in the noisy-neighbour bench: ~90 ms stalls at each kill).
   */
  private mayTakeThread(lane: Lane, now: number): boolean {
    if (!this.suspects.has(lane.key, now)) return true;
    return this.options.readyThreads() - this.inFlight.size >= 2;
  }

  /** A lane with more calls waiting than one bundle takes: the main thread may pace it (pacer.ts). */
  private isBulk(lane: Lane): boolean {
    return lane.queue.length > this.options.maxBundle;
  }

  /**
   * True while background lanes may send another bundle: they hold at most all workers but one, so
   * a call arriving behind a job backlog finds a worker free, or one that frees after one bundle.
   */
  private backgroundRoom(): boolean {
    return this.backgroundBundles < Math.max(1, this.options.workers - 1);
  }

  /** Bundles a lane may have in flight. */
  private laneLimit(lane: Lane): number {
    return Math.max(1, lane.maxConcurrency);
  }

  /** Spread a lane's queue over the bundles it may still send (parallelism), up to maxBundle (latency, re-runs after a kill). */
  private bundleSize(lane: Lane): number {
    const room = Math.max(1, Math.min(this.capacity - this.inFlight.size, this.laneLimit(lane) - lane.bundles));
    return Math.min(this.options.maxBundle, Math.ceil(lane.queue.length / room));
  }

  /** Which calls go out alone (a runaway's, see suspects.ts); undefined while there are none. */
  private runawayTest(now: number): ((call: Pending) => boolean) | undefined {
    if (this.runaways.size === 0) return undefined;
    return (call) => this.runaways.has(runawayKey(call.lane, call.sha256, call.fn), now);
  }

  private dispatch(lane: Lane, calls: Pending[], now: number): void {
    const { bundle, task } = buildBundle(lane, calls, now);
    this.inFlight.add(bundle);
    if (lane.background) this.backgroundBundles++;
    if (++lane.bundles >= this.laneLimit(lane)) lane.fullAt = now;
    this.inFlightCalls += calls.length;
    this.options.metrics.poolBundleSize.observe(calls.length);
    this.options.runTask(task).then(
      (reply) => this.settle(bundle, reply),
      (err: unknown) => this.failed(bundle, err),
    );
    this.watchdog.arm();
  }

  private settle(bundle: Bundle, reply: BundleReply): void {
    const own = this.release(bundle);
    const now = Date.now();
    const outcomes = outcomesOf(reply, (i, startedAt) => bundle.epoch + startedAt - (own[i] as Pending).acceptedAt);
    own.forEach((call, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined) call.done(internal(`bundle reply has no outcome #${i}`, call, now));
      else if (!outcome.ok && outcome.error.message === NOT_STARTED) call.done(this.expired(call, now));
      else call.done(outcome);
    });
    this.flush();
  }

  /** The bundle's worker stopped: answer the call it stopped for and queue the others again. */
  private failed(bundle: Bundle, err: unknown): void {
    const own = this.release(bundle);
    const now = Date.now();
    if (this.stopped) {
      for (const call of own) call.done(unavailable('the runner shut down while the call was running', call, now));
      this.afterChange();
      return;
    }
    const culprit = this.culprit(bundle, own.length, err, now);
    const again: Pending[] = [];
    own.forEach((call, i) => {
      if (i === culprit?.index) call.done(culprit.outcome);
      else if (call.reruns >= this.options.maxReruns) call.done(unavailable(`the call's worker stopped ${call.reruns + 1} times`, call, now));
      else {
        call.reruns++;
        call.deadline = now + call.timeoutMs;
        again.push(call);
      }
    });
    this.lanes.unshift(bundle.lane, again);
    this.flush();
  }

  private culprit(bundle: Bundle, owned: number, err: unknown, now: number): { index: number; outcome: CallOutcome } | undefined {
    if (bundle.killedAt !== IDLE) {
      return { index: bundle.killedAt, outcome: stoppedAtDeadline(bundle.calls[bundle.killedAt] as Pending, bundle.killedCallStartedAt, now) };
    }
    const threadId = Atomics.load(bundle.control, CONTROL.threadId);
    const index = Atomics.load(bundle.control, CONTROL.index);
    this.options.logger.warn({ err, threadId, calls: owned }, 'runner worker stopped; re-running its calls');
    if (threadId === 0 || index === IDLE) return undefined;
    if (threadId !== this.lastCrashedThread) {
      this.lastCrashedThread = threadId;
      this.options.metrics.workerRestarts.inc({ reason: 'crash' });
    }
    // The guest running when its thread died is the likeliest cause; it is not run again.
    const reason = err instanceof Error ? err.message : String(err);
    return { index, outcome: internal(`the worker stopped while running the call: ${reason}`, bundle.calls[index] as Pending, now) };
  }

  private tick(): boolean {
    const now = Date.now();
    const full = now - this.lastFullScan >= FULL_EXPIRY_SCAN_MS;
    if (full) {
      this.lastFullScan = now;
      // Every full scan, even with none left: has() drops expired suspects lazily, so the size can reach
      // 0 between scans and a guarded gauge would keep its last non-zero value.
      this.options.metrics.suspectLanes.set(this.suspects.count(now));
    }
    let moved = this.expireWaiting(now, full);
    for (const bundle of this.inFlight) {
      if (bundle.killedAt !== IDLE) continue;
      const running = runningCall(bundle.control, bundle.epoch, now);
      const call = running && bundle.calls[running.index];
      if (running === undefined || call === undefined) continue;
      if (now > call.deadline) this.kill(bundle, running.index, now, now - running.ranMs);
      if (running.ranMs > this.options.takeBackAfterMs) {
        const back = takeBack(bundle, running.index);
        this.inFlightCalls -= back.length;
        this.lanes.unshift(bundle.lane, back);
        moved ||= back.length > 0;
      }
      if (!bundle.long && running.ranMs > this.options.longCallMs) {
        bundle.long = true;
        this.longBundles++;
        moved = true; // room for one more bundle
      }
    }
    // While bulk lanes are paced, each tick may be the one their next bundle is due at.
    if (moved || (this.pacer.pacing && this.lanes.queued > 0)) this.flush();
    return this.inFlight.size > 0 || this.lanes.queued > 0;
  }

  private kill(bundle: Bundle, index: number, now: number, startedAt: number): void {
    const call = bundle.calls[index] as Pending;
    bundle.killedAt = index;
    bundle.killedCallStartedAt = startedAt;
    this.suspects.mark(bundle.lane.key, now);
    this.runaways.mark(runawayKey(call.lane, call.sha256, call.fn), now);
    this.options.metrics.suspectLanes.set(this.suspects.count(now));
    const threadId = Atomics.load(bundle.control, CONTROL.threadId);
    if (!this.options.terminate(threadId)) return;
    this.options.metrics.workerRestarts.inc({ reason: 'timeout' });
    this.options.logger.warn({ threadId, fn: call.fn, timeoutMs: call.timeoutMs, lane: bundle.lane.key }, 'guest call passed its deadline; worker terminated');
  }

  /** Answers the waiting calls whose deadline passed (the lanes' heads, or with `all` every call); true if any did. */
  private expireWaiting(now: number, all: boolean): boolean {
    let expired = false;
    for (const lane of this.lanes.waiting()) {
      const gone = this.lanes.expire(lane, (call) => now > call.deadline, all);
      for (const call of gone) call.done(this.expired(call, now));
      expired ||= gone.length > 0;
    }
    return expired;
  }

  /**
   * The answer of a call whose deadline passed before it started: whose calls kept it waiting decides.
   * Its own tenant's when the lane reached its limit at any moment while the call waited (at the
   * deadline the bundle that held the last slot may just have ended), or when the tenant, suspected
   * after a timeout, was kept off the last free thread; the pool's otherwise.
   */
  private expired(call: Pending, now: number): CallOutcome {
    const waited = now - call.acceptedAt;
    const lane = call.owner;
    const limit = this.laneLimit(lane);
    const held = lane.bundles >= limit || lane.fullAt >= call.acceptedAt;
    if (held || this.suspects.has(lane.key, now)) {
      const why = held ? `this tenant's calls held all ${limit} of its concurrent runs` : 'this tenant timed out recently, and may not take the last free thread';
      const message = `call to ${JSON.stringify(call.fn)} did not start within its ${call.timeoutMs} ms deadline: ${why}`;
      return { ok: false, error: { code: 'EXECUTION_TIMEOUT', message }, durationMs: 0, cpuMs: 0, queuedMs: waited };
    }
    return unavailable(`call to ${JSON.stringify(call.fn)} waited ${waited} ms for a worker without starting; the runner is overloaded`, call, now);
  }

  /** Forgets a finished bundle; returns the calls it still owned. */
  private release(bundle: Bundle): Pending[] {
    if (!this.inFlight.delete(bundle)) return [];
    bundle.lane.bundles--;
    if (bundle.lane.background) this.backgroundBundles--;
    if (bundle.long) this.longBundles--;
    const own = ownCalls(bundle);
    this.inFlightCalls -= own.length;
    this.lanes.release(bundle.lane);
    return own;
  }

  private afterChange(): void {
    this.options.metrics.poolQueueDepth.set(this.lanes.queued);
    this.options.metrics.poolInFlight.set(this.inFlightCalls);
  }
}
