import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { buildBundle } from './bundle.js';
import type { Lane } from './lanes.js';
import { CONTROL, type BundleReply, type BundleTask } from './protocol.js';

/* The Piscina pool behind the runner: how it is built, tuned, and how a worker is stopped. */

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** Turns require(esm) off in the worker threads (see workerExecArgv). */
export const NO_REQUIRE_ESM = '--no-experimental-require-module';

let workerFlags: string[] | undefined;

/**
 * Node flags of every worker thread. Piscina loads its worker file with require() first and falls back
 * to import(); since Node 20.19, require() of an ES module (worker.js is one) succeeds instead of
 * throwing, and on Node 20.20 it now and then aborts the whole process in a native assertion
 * (CreateRequiredModuleFacade: "facade->InstantiateModule(…) .IsJust()"), seen as a test process dying
 * while a thread started. Without require(esm), require() throws ERR_REQUIRE_ESM and Piscina imports it.
 * A thread given flags inherits none of `parent`'s, and refuses V8 and process-wide ones (they apply to
 * every thread already, as npm start's --max-semi-space-size): the parent's that a thread takes are
 * kept (--cpu-prof for the bench's profiles of the workers), found by asking Node once per flag.
 */
export function workerExecArgv(parent: readonly string[] = process.execArgv): string[] {
  if (parent === process.execArgv && workerFlags !== undefined) return workerFlags;
  const flags = [...parent.filter((flag) => flag !== NO_REQUIRE_ESM && takenByThreads(flag)), NO_REQUIRE_ESM];
  if (parent === process.execArgv) workerFlags = flags;
  return flags;
}

/** Whether a worker thread accepts `flag` in its execArgv (Node checks them as it builds the thread, before it runs). */
function takenByThreads(flag: string): boolean {
  try {
    void new Worker('', { eval: true, execArgv: [flag] }).terminate();
    return true;
  } catch {
    return false;
  }
}

/** Tuning, measured with bench (see the report in issue 6); not configuration users need. */
export const TUNING = {
  /**
   * Threads started beyond the pool size and never counted as workers. The dispatcher keeps room for
   * `size + spare` bundles, and one lane may have at most `size` of them, so a thread is free for
   * another tenant, or, after a kill, for the re-runs, at once instead of after the replacement's start
   * (measured: a worker takes 25–100 ms to start here, several hundred under load).
   */
  spareThreads: 1,
  /** Most calls in one bundle (a runBatch's items stay together beyond it): bounds the wait behind slow neighbours and the re-runs after a kill. */
  maxBundle: 128,
  /**
   * How often the watchdog looks at running calls while any are in flight: how late past its deadline
   * a runaway call is stopped, at most (event-loop lag aside). A tick reads a control block per bundle.
   */
  watchdogIntervalMs: 5,
  /** A call running this long has the calls queued behind it in its bundle moved to another bundle. */
  takeBackAfterMs: 20,
  /** How long a lane (tenant) that timed out runs one call at a time, from its latest timeout (suspects.ts). */
  suspectTtlMs: 60_000,
  /** How often a call is re-run after the worker under it stopped (for another call's fault). */
  maxReruns: 3,
  /** Threads beyond size + spare (started for long calls) retire after this long idle. */
  extraThreadIdleMs: 10_000,
} as const;

/**
 * A pool of `size` workers plus TUNING.spareThreads, growing to `maxThreads` while long calls hold
 * threads (the dispatcher sends more bundles than there are threads, and Piscina starts one for a
 * task that finds none idle); counted in the metrics as at most `size` workers.
 */
export function createPool(size: number, maxThreads: number, idleMs: number, metrics: Metrics, logger: Logger): Piscina<BundleTask, BundleReply> {
  const threads = size + TUNING.spareThreads;
  const pool = new Piscina<BundleTask, BundleReply>({
    filename: WORKER_URL.href,
    execArgv: workerExecArgv(),
    // A worker killed for a runaway guest is replaced up to this floor, never left missing.
    minThreads: threads,
    maxThreads: Math.max(threads, maxThreads),
    idleTimeout: idleMs,
    atomics: 'sync',
    // One task per thread: a bundle never waits behind a guest that spins.
    concurrentTasksPerWorker: 1,
  });
  const count = () => {
    metrics.poolWorkers.set(workersUp(pool, size));
    metrics.poolThreads.set(pool.threads.length);
  };
  pool.on('workerCreate', count);
  pool.on('workerDestroy', count);
  // Emitted for a worker error while it has no task; tasks that fail reach the dispatcher instead.
  pool.on('error', (err: unknown) => logger.error({ err }, 'runner worker error'));
  return pool;
}

/**
 * Threads that are up and can take a bundle: Piscina emits workerCreate once a thread has started
 * (a replacement takes 30 ms on an idle machine, hundreds under load) and workerDestroy when it goes,
 * also for a thread destroyed before it was ready, which was never counted.
 * Piscina hands each listener a new view object of the worker, and its thread id reads -1 once the
 * thread has exited, so neither identifies the worker that went; each view's `destroyed` does.
 */
export class ReadyThreads {
  readonly #ready = new Set<{ readonly destroyed: boolean }>();

  constructor(pool: Piscina, onReady: () => void) {
    pool.on('workerCreate', (worker: { readonly destroyed: boolean }) => {
      this.#ready.add(worker);
      onReady();
    });
    pool.on('workerDestroy', () => {
      for (const worker of this.#ready) if (worker.destroyed) this.#ready.delete(worker);
    });
  }

  get count(): number {
    return this.#ready.size;
  }
}

/** The workers a pool of `size` has up: the spare is not counted, a thread not yet replaced is missing. */
export function workersUp(pool: Piscina, size: number): number {
  return Math.min(size, pool.threads.length);
}

/**
 * Runs bundles on the pool, each with its own AbortSignal, and stops a worker by aborting the bundle it
 * runs. Piscina then fails the bundle at once and starts the replacement at once, where terminating the
 * thread fails it only on the thread's 'exit' event: measured under the storm bench 4–420 ms after
 * terminate(), time a timed-out caller and the innocent calls of its bundle spent waiting.
 * A signal per task costs nothing in placement here: Piscina puts an abortable task only on an idle
 * worker, which with one task per worker it does for every task anyway (with more it would cost 2.6×).
 */
export class PoolTasks {
  /** The AbortController of every bundle sent and not yet settled, by its control block. */
  private readonly running = new Map<SharedArrayBuffer, AbortController>();
  /**
   * Controllers of settled bundles, never aborted, for the next bundles. Runner-level CPU profile of
   * `add` at 100 callers: signal handling took 4.0% of main-thread samples with a new controller per
   * bundle, 1.3% reusing them.
   */
  private readonly unused: AbortController[] = [];

  constructor(private readonly pool: Piscina<BundleTask, BundleReply>) {}

  /** Runs a bundle on the pool. */
  run(task: BundleTask): Promise<BundleReply> {
    const controller = this.unused.pop() ?? new AbortController();
    this.running.set(task.control, controller);
    return this.pool.run(task, { signal: controller.signal }).finally(() => {
      this.running.delete(task.control);
      if (!controller.signal.aborted) this.unused.push(controller);
    });
  }

  /** Stops the worker with this thread id, failing its bundle now; false when there is none. */
  stop(threadId: number): boolean {
    for (const [control, controller] of this.running) {
      if (Atomics.load(new Int32Array(control), CONTROL.threadId) !== threadId) continue;
      controller.abort(new Error(`worker ${threadId} stopped: a call passed its deadline`));
      return true;
    }
    return terminateThread(this.pool, threadId);
  }
}

/** Terminates the pool's worker with this thread id; false when there is none. */
export function terminateThread(pool: Piscina, threadId: number): boolean {
  const worker = pool.threads.find((w) => w.threadId === threadId);
  if (worker === undefined) return false;
  void worker.terminate();
  return true;
}

const NO_LANE: Lane = { key: '', queue: [], bundles: 0, maxConcurrency: 1, fullAt: 0, inRing: false, background: false };

/** A bundle of no calls: proves a worker loads its script. */
export function emptyBundle(): BundleTask {
  return buildBundle(NO_LANE, [], Date.now()).task;
}
