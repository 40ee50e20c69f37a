import { wessError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { buildBatch, cut, newGroup, NO_GROUP, ownCalls, takeBack, type Batch, type CallRequest, type Pending } from './batch.js';
import { CONTROL, IDLE, outcomesOf, type BatchReply, type BatchTask, type CallOutcome } from './protocol.js';
import { Suspects } from './suspects.js';
import { runningCall, Watchdog } from './watchdog.js';

/*
 * Micro-batching with deadlines. Calls wait in a FIFO queue; whenever a task slot is free (at most
 * `slots` batches in flight: workers × tasks per worker) the queue is cut into batches, one Piscina
 * task each. Under load calls pile up while every slot is busy and the next batches grow on their own,
 * so the main → worker hop is paid once per batch, not once per call.
 *
 * A watchdog tick reads each batch's control block:
 * - a call running past takeBackAfterMs has the calls behind it taken back and queued again at the
 *   front, so they do not wait for a slow (maybe endless) neighbour;
 * - a call running past its deadline gets its worker terminated. Piscina then fails the task and starts
 *   a replacement; the call answers EXECUTION_TIMEOUT and the calls of the batch that ran before it
 *   (their answers died with the worker) are queued again: a fresh instance per call and no imports
 *   but an in-memory WASI process make a re-run safe. Its (module, function) becomes a suspect
 *   (suspects.ts).
 *
 * The items of a runBatch are queued together and cut() keeps them in one batch, so they cost one hop.
 *
 * Waiting: a call not started within waitFactor × its timeout answers UNAVAILABLE instead of running
 * late. Queue heads are checked on every flush and tick, and the worker checks before starting a call.
 */

export type { CallRequest } from './batch.js';

export interface DispatcherOptions {
  workers: number;
  tasksPerWorker: number;
  /** Threads the pool has beyond `workers` (threads.ts): only suspects' calls may take them. */
  spareThreads: number;
  maxBatch: number;
  queueLimit: number;
  waitFactor: number;
  watchdogIntervalMs: number;
  takeBackAfterMs: number;
  maxReruns: number;
  suspectTtlMs: number;
  runTask: (task: BatchTask) => Promise<BatchReply>;
  /** Terminates the worker thread; false when no such thread is in the pool. */
  terminate: (threadId: number) => boolean;
  metrics: Metrics;
  logger: Logger;
}

export class Dispatcher {
  private readonly queue: Pending[] = [];
  /** Calls of suspected pairs: one (or one runBatch) per batch, never on every worker at once (mayRunSuspect). */
  private readonly suspectQueue: Pending[] = [];
  private readonly inFlight = new Set<Batch>();
  private readonly suspectBatches = new Set<Batch>();
  private readonly suspects: Suspects;
  private readonly watchdog: Watchdog;
  private readonly slots: number;
  private flushScheduled = false;
  private stopped = false;
  private lastCrashedThread = 0;
  /** Calls in dispatched batches that have not answered. */
  inFlightCalls = 0;

  constructor(private readonly options: DispatcherOptions) {
    this.slots = options.workers * options.tasksPerWorker;
    this.suspects = new Suspects(options.suspectTtlMs, 1000);
    this.watchdog = new Watchdog(options.watchdogIntervalMs, () => this.tick());
  }

  /** Calls waiting for a task slot. */
  get queued(): number {
    return this.queue.length + this.suspectQueue.length;
  }

  /** Queues a call for the next batch; throws UNAVAILABLE when closing or when the queue is full. */
  submit(request: CallRequest): Promise<CallOutcome> {
    this.admit(1);
    return new Promise((done) => {
      const now = Date.now();
      // Built field by field: a spread here showed up as the top main-thread cost in profiles.
      const { sha256, compiled, fn, args, bridge, wasi, timeoutMs } = request;
      const call: Pending = { sha256, compiled, fn, args, bridge, wasi, timeoutMs, enqueuedAt: now, reruns: 0, group: NO_GROUP, done };
      (this.suspects.has(sha256, fn, now) ? this.suspectQueue : this.queue).push(call);
      this.scheduleFlush();
    });
  }

  /**
   * Queues calls that go out together in one batch (a runBatch), each still answered on its own;
   * throws UNAVAILABLE when closing or when the queue has no room for all of them.
   */
  submitGroup(requests: CallRequest[]): Promise<CallOutcome>[] {
    this.admit(requests.length);
    const group = newGroup();
    const now = Date.now();
    const calls = requests.map((request): Promise<CallOutcome> => new Promise((done) => {
      // The same fields in the same order as submit(): every Pending keeps one shape.
      const { sha256, compiled, fn, args, bridge, wasi, timeoutMs } = request;
      const call: Pending = { sha256, compiled, fn, args, bridge, wasi, timeoutMs, enqueuedAt: now, reruns: 0, group, done };
      (this.suspects.has(sha256, fn, now) ? this.suspectQueue : this.queue).push(call);
    }));
    this.scheduleFlush();
    return calls;
  }

  private admit(calls: number): void {
    if (this.stopped) throw wessError('UNAVAILABLE', 'the runner has shut down');
    if (this.queued + calls > this.options.queueLimit) {
      const asked = calls === 1 ? '' : ` (this batch adds ${calls})`;
      throw wessError('UNAVAILABLE', `${this.queued} calls are already waiting for a worker${asked}; try again shortly`);
    }
  }

  /** Answers every queued call UNAVAILABLE; batches failing from now on (pool destroyed) answer the same. */
  stop(): void {
    this.stopped = true;
    this.watchdog.disarm();
    const message = 'the runner shut down before the call started';
    for (const call of [...this.queue.splice(0), ...this.suspectQueue.splice(0)]) call.done(unavailable(message));
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
    this.expireWaiting(now);
    // Healthy batches take at most `slots`; suspects may also take the spare threads (mayRunSuspect).
    const lanes = this.slots + this.options.spareThreads;
    while (this.suspectQueue.length > 0 && this.inFlight.size < lanes && this.mayRunSuspect()) {
      this.dispatch(cut(this.suspectQueue, 1), now, true);
    }
    const free = Math.min(this.slots - this.healthyInFlight, lanes - this.inFlight.size);
    if (this.queue.length > 0 && free > 0) {
      // Spread over the workers first (parallelism), then cap a batch (latency and re-runs after a kill).
      const per = Math.min(this.options.maxBatch, Math.ceil(this.queue.length / Math.min(free, this.options.workers)));
      while (this.queue.length > 0 && this.healthyInFlight < this.slots && this.inFlight.size < lanes) this.dispatch(cut(this.queue, per), now, false);
    }
    this.afterChange();
  }

  private dispatch(calls: Pending[], now: number, suspect: boolean): void {
    const { batch, task } = buildBatch(calls, now, (call) => this.maxWait(call));
    this.inFlight.add(batch);
    if (suspect) this.suspectBatches.add(batch);
    this.inFlightCalls += calls.length;
    this.options.metrics.poolBatchSize.observe(calls.length);
    this.options.runTask(task).then(
      (reply) => this.settle(batch, reply),
      (err: unknown) => this.failed(batch, err),
    );
    this.watchdog.arm();
  }

  private settle(batch: Batch, reply: BatchReply): void {
    const own = this.release(batch);
    const outcomes = outcomesOf(reply);
    own.forEach((call, i) => {
      const outcome = outcomes[i] ?? { ok: false, error: { code: 'INTERNAL', message: `batch reply has no outcome #${i}` }, durationMs: 0 };
      // It ran to an end (result or trap) in time: no longer suspected.
      if (this.suspects.size > 0 && (outcome.ok || outcome.error.code !== 'UNAVAILABLE')) this.suspects.clear(call.sha256, call.fn);
      call.done(outcome);
    });
    this.flush();
  }

  /** The batch's worker stopped: answer the call it stopped for and queue the others again. */
  private failed(batch: Batch, err: unknown): void {
    const own = this.release(batch);
    if (this.stopped) {
      for (const call of own) call.done(unavailable('the runner shut down while the call was running'));
      this.afterChange();
      return;
    }
    const culprit = this.culprit(batch, own.length, err);
    const again: Pending[] = [];
    own.forEach((call, i) => {
      if (i === culprit?.index) call.done(culprit.outcome);
      else if (call.reruns >= this.options.maxReruns) call.done(unavailable(`the call's worker stopped ${call.reruns + 1} times`));
      else {
        call.reruns++;
        again.push(call);
      }
    });
    this.requeue(again, Date.now(), true);
    this.flush();
  }

  private culprit(batch: Batch, owned: number, err: unknown): { index: number; outcome: CallOutcome } | undefined {
    if (batch.killedAt !== IDLE) {
      const call = batch.calls[batch.killedAt] as Pending;
      const message = `call to ${JSON.stringify(call.fn)} did not finish within ${call.timeoutMs} ms; the guest was stopped`;
      return { index: batch.killedAt, outcome: { ok: false, error: { code: 'EXECUTION_TIMEOUT', message }, durationMs: call.timeoutMs } };
    }
    const threadId = Atomics.load(batch.control, CONTROL.threadId);
    const index = Atomics.load(batch.control, CONTROL.index);
    this.options.logger.warn({ err, threadId, calls: owned }, 'runner worker stopped; re-running its calls');
    if (threadId === 0 || index === IDLE) return undefined;
    if (threadId !== this.lastCrashedThread) {
      this.lastCrashedThread = threadId;
      this.options.metrics.workerRestarts.inc({ reason: 'crash' });
    }
    // The guest running when its thread died is the likeliest cause; it is not run again.
    const reason = err instanceof Error ? err.message : String(err);
    return { index, outcome: { ok: false, error: { code: 'INTERNAL', message: `the worker stopped while running the call: ${reason}` }, durationMs: 0 } };
  }

  private tick(): boolean {
    const now = Date.now();
    let moved = this.expireWaiting(now);
    for (const batch of this.inFlight) {
      if (batch.killedAt !== IDLE) continue;
      const running = runningCall(batch.control, batch.epoch, now);
      const call = running && batch.calls[running.index];
      if (running === undefined || call === undefined) continue;
      if (running.ranMs > call.timeoutMs) this.kill(batch, running.index, now);
      if (running.ranMs > this.options.takeBackAfterMs) {
        const back = takeBack(batch, running.index);
        this.inFlightCalls -= back.length;
        this.requeue(back, now, false);
        moved ||= back.length > 0;
      }
    }
    if (moved) this.flush();
    return this.inFlight.size > 0;
  }

  private kill(batch: Batch, index: number, now: number): void {
    const call = batch.calls[index] as Pending;
    batch.killedAt = index;
    this.suspects.mark(call.sha256, call.fn, now);
    const threadId = Atomics.load(batch.control, CONTROL.threadId);
    if (!this.options.terminate(threadId)) return;
    this.options.metrics.workerRestarts.inc({ reason: 'timeout' });
    this.options.logger.warn({ threadId, fn: call.fn, timeoutMs: call.timeoutMs }, 'guest call passed its deadline; worker terminated');
  }

  /**
   * Queues calls again ahead of new ones (they have waited already), each in its lane. A re-run (its
   * worker died under it) waits afresh; a call taken back before it started keeps its wait so far.
   */
  private requeue(calls: Pending[], now: number, waitAfresh: boolean): void {
    const healthy: Pending[] = [];
    const suspect: Pending[] = [];
    for (const call of calls) {
      if (waitAfresh) call.enqueuedAt = now;
      (this.suspects.has(call.sha256, call.fn, now) ? suspect : healthy).push(call);
    }
    this.queue.unshift(...healthy);
    this.suspectQueue.unshift(...suspect);
  }

  /** Answers UNAVAILABLE to calls at the queue heads that waited too long; true if any did. */
  private expireWaiting(now: number): boolean {
    let expired = false;
    for (const queue of [this.queue, this.suspectQueue]) {
      for (let head = queue[0]; head !== undefined && now - head.enqueuedAt > this.maxWait(head); head = queue[0]) {
        queue.shift();
        const waited = now - head.enqueuedAt;
        head.done(unavailable(`call to ${JSON.stringify(head.fn)} waited ${waited} ms for a worker without starting; the runner is overloaded`));
        expired = true;
      }
    }
    return expired;
  }

  /** Suspects never take the last worker from healthy calls; a pool of one lends it only while none wait. */
  private mayRunSuspect(): boolean {
    // A spare lets the next suspect start while the last one runs out its deadline (a loop a second at
    // a 1 s timeout otherwise queues behind the previous kill and ends later and later: issue 6).
    if (this.options.spareThreads > 0) return this.suspectBatches.size < this.options.workers - 1 + this.options.spareThreads;
    if (this.options.workers === 1) return this.queue.length === 0 && this.suspectBatches.size === 0;
    return this.suspectBatches.size < this.options.workers - 1;
  }

  private get healthyInFlight(): number {
    return this.inFlight.size - this.suspectBatches.size;
  }

  private maxWait(call: Pending): number {
    return call.timeoutMs * this.options.waitFactor;
  }

  /** Forgets a finished batch; returns the calls it still owned. */
  private release(batch: Batch): Pending[] {
    if (!this.inFlight.delete(batch)) return [];
    this.suspectBatches.delete(batch);
    const own = ownCalls(batch);
    this.inFlightCalls -= own.length;
    return own;
  }

  private afterChange(): void {
    this.options.metrics.poolQueueDepth.set(this.queued);
    this.options.metrics.poolInFlight.set(this.inFlightCalls);
  }
}

function unavailable(message: string): CallOutcome {
  return { ok: false, error: { code: 'UNAVAILABLE', message }, durationMs: 0 };
}
