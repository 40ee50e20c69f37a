import { Piscina } from 'piscina';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { buildBatch } from './batch.js';
import type { BatchReply, BatchTask } from './protocol.js';

/* The Piscina pool behind the runner: how it is built, tuned, and how a worker is stopped. */

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** Tuning, measured with bench (see the report in issue 6); not configuration users need. */
export const TUNING = {
  /** Piscina tasks queued per worker. 1 keeps a batch from ever waiting behind a guest that spins. */
  tasksPerWorker: 1,
  /** Most calls in one batch (a runBatch's items stay together beyond it): bounds the wait behind slow neighbours and the re-runs after a kill. */
  maxBatch: 128,
  /** A call not started within this many times its timeout answers UNAVAILABLE. */
  waitFactor: 2,
  /** How often the watchdog looks at running calls while any are in flight. */
  watchdogIntervalMs: 10,
  /** A call running this long has the calls queued behind it in its batch moved to another batch. */
  takeBackAfterMs: 20,
  /** How long a (module, function) that timed out has its calls isolated (suspects.ts). */
  suspectTtlMs: 10 * 60_000,
  /** How often a call is re-run after the worker under it stopped (for another call's fault). */
  maxReruns: 3,
} as const;

/** A fixed-size pool of `size` workers running worker.ts, counted in the metrics. */
export function createPool(size: number, metrics: Metrics, logger: Logger): Piscina<BatchTask, BatchReply> {
  const pool = new Piscina<BatchTask, BatchReply>({
    filename: WORKER_URL.href,
    // A fixed size: a worker killed for a runaway guest is replaced, never left missing.
    minThreads: size,
    maxThreads: size,
    idleTimeout: Infinity,
    atomics: 'sync',
    concurrentTasksPerWorker: TUNING.tasksPerWorker,
  });
  const count = () => metrics.poolWorkers.set(pool.threads.length);
  pool.on('workerCreate', count);
  pool.on('workerDestroy', count);
  // Emitted for a worker error while it has no task; tasks that fail reach the dispatcher instead.
  pool.on('error', (err: unknown) => logger.error({ err }, 'runner worker error'));
  return pool;
}

/** Terminates the pool's worker with this thread id; false when there is none. */
export function terminateThread(pool: Piscina, threadId: number): boolean {
  const worker = pool.threads.find((w) => w.threadId === threadId);
  if (worker === undefined) return false;
  void worker.terminate();
  return true;
}

/** A batch of no calls: proves a worker loads its script. */
export function emptyBatch(): BatchTask {
  return buildBatch([], Date.now(), () => 0).task;
}
