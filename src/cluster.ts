/**
 * Several node processes on one port: `server.processes = N` (or `wess serve --processes N`).
 *
 * Design. The process that loads a config with N ≠ 1 becomes the cluster's primary (node:cluster):
 * it opens no store, builds no app and serves no HTTP. It forks N workers, each running main.js
 * with the same arguments and environment, so each loads the same config and runs the whole server
 * (store, runner pool, routes); their listen() on server.port is handed to the primary, which holds
 * the one socket and deals connections out round-robin. Everything that must agree between the
 * workers is already shared the way it is between nodes: the PostgreSQL store (LevelDB can be
 * opened by one process, so the config check refuses N ≠ 1 without database.url), and Redis for
 * rate limits. What stays per process, and so is N-fold on one port, is in the README ("Several
 * processes on one port, and a load balancer"): in-memory rate limits (set rate_limit.redis_url),
 * the runner pool (server.workers each), max_event_clients, reader and compiled caches.
 *
 * - Ready: each worker logs "wess worker is ready" and tells the primary, which logs "wess is ready"
 *   (its pid, the port, the worker pids) once all N are. A worker that exits before that is a failed start:
 *   it has said why on stderr, and the primary stops the others and exits 1, as one process would.
 * - Restarts: a worker that exits while serving (crash, SIGKILL, OOM) is replaced in its slot after
 *   a backoff that doubles per death in a row (250 ms up to 30 s), reset once a worker has served
 *   for RESET_AFTER_MS; every death is logged with its exit code or signal and the delay.
 * - SIGTERM/SIGINT: the primary tells every worker to drain (an IPC message, not a signal, so a
 *   Ctrl-C that the terminal also sends to every worker still counts once per worker), then exits
 *   when all have, 0 if every one stopped cleanly; a second signal SIGKILLs them and exits 130.
 * - SIGHUP: passed to every worker, each of which reloads its config as a single server does; a
 *   worker not yet listening gets it once it listens. The pid to signal is the primary's.
 * - /metrics: each worker has its own registry, but a scrape reaches whichever worker the primary
 *   hands the connection to, so a worker's /metrics answers with the whole node's figures: it asks
 *   the primary, whose prom-client AggregatorRegistry collects every worker's registry over IPC
 *   and sums them (gauges that are shares or copies of shared state say how they combine, in
 *   metrics.ts). Prometheus keeps scraping one target per node, on the node's one port; no second
 *   port and no new setting. The cost is one IPC round trip to every worker per scrape.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from './config/schema.js';
import { shareStdout, type Logger } from './logger.js';

/** Messages over cluster's IPC channel, told apart from prom-client's by their `wess` field. */
type Message =
  | { wess: 'ready' }
  | { wess: 'shutdown'; signal: NodeJS.Signals }
  | { wess: 'metrics'; id: number }
  | { wess: 'metrics-answer'; id: number; text?: string; error?: string };

/** prom-client's request for a worker's metrics (lib/cluster.js), answered by its own listener. */
const PROM_CLIENT_REQUEST = 'prom-client:getMetricsReq';

/** First restart delay; doubled per death in a row. */
const RESTART_MIN_MS = 250;
const RESTART_MAX_MS = 30_000;
/** A worker that served this long resets its slot's run of deaths. */
const RESET_AFTER_MS = 10_000;
/** How long a worker waits for the primary's aggregated metrics (prom-client's own limit is 5 s). */
const METRICS_TIMEOUT_MS = 7_000;
/** Time the primary gives workers past server.shutdown_grace (they force their own exit at +2 s). */
const STOP_MARGIN_MS = 5_000;

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && typeof (value as { wess?: unknown }).wess === 'string';
}

interface Slot {
  worker: Worker | undefined;
  /** When its worker said it was ready; undefined while it starts. */
  readySince: number | undefined;
  /** Deaths in a row, for the backoff. */
  deaths: number;
  restart: NodeJS.Timeout | undefined;
  /** A SIGHUP came before the worker listened. */
  reloadPending: boolean;
}

export interface PrimaryOptions {
  config: Config;
  logger: Logger;
  /** Number of workers (server.processes, 0 resolved). */
  count: number;
  /** The script workers run (main.js) and its arguments, the primary's own. */
  exec: string;
  argv: readonly string[];
  /** Exits the process; the primary's only way out (main.ts owns process.exit). */
  exit: (code: number) => never;
}

/** Runs the primary: forks `count` workers and supervises them until a signal stops them all. */
export function runPrimary(options: PrimaryOptions): void {
  const { config, count, exit } = options;
  shareStdout();
  // Its lines carry its pid as the workers' do (logger.ts), all of them writing to one stdout.
  const logger = options.logger.child({ pid: process.pid });
  cluster.setupPrimary({ exec: options.exec, args: [...options.argv] });
  const aggregator = new AggregatorRegistry();
  const slots: Slot[] = Array.from({ length: count }, () => ({ worker: undefined, readySince: undefined, deaths: 0, restart: undefined, reloadPending: false }));
  let phase: 'starting' | 'serving' | 'stopping' = 'starting';
  let failed = false;
  let port: number | undefined;
  const live = () => slots.flatMap((slot) => (slot.worker && !slot.worker.isDead() ? [slot.worker] : []));
  const pids = () => live().map((worker) => worker.process.pid);

  const fork = (slot: Slot) => {
    slot.restart = undefined;
    slot.readySince = undefined;
    const worker = cluster.fork();
    slot.worker = worker;
    // The port, for the ready line: a worker's listen on port 0 gets the one the primary picked.
    worker.on('listening', (address) => (port ??= address.port));
    worker.on('message', (message: unknown) => {
      if (!isMessage(message)) return;
      if (message.wess === 'ready') workerReady(slot, worker);
      if (message.wess !== 'metrics') return;
      const { id } = message;
      aggregator.clusterMetrics().then(
        (text) => sendTo(worker, { wess: 'metrics-answer', id, text }),
        (err: unknown) => sendTo(worker, { wess: 'metrics-answer', id, error: err instanceof Error ? err.message : String(err) }),
      );
    });
    worker.on('exit', (code, signal) => exited(slot, worker, code, signal));
  };

  /** A worker is ready once it serves (its admin key made, its ready line logged), not when it listens. */
  const workerReady = (slot: Slot, worker: Worker) => {
    if (slot.worker !== worker || slot.readySince !== undefined) return;
    slot.readySince = Date.now();
    if (slot.reloadPending) {
      slot.reloadPending = false;
      signalWorker(worker, 'SIGHUP');
    }
    if (phase === 'starting' && slots.every((s) => s.readySince !== undefined)) {
      phase = 'serving';
      ready();
    }
  };

  const ready = () => {
    logger.info({ host: config.server.host, port, processes: count, workers: pids() }, 'wess is ready');
    if (config.rate_limit.enabled && config.rate_limit.redis_url === undefined) {
      logger.warn({ processes: count }, `rate limits are counted in each process's memory, so up to ${count} × the limit passes on this node: set rate_limit.redis_url to share them`);
    }
    if (config.server.workers === 0) {
      logger.warn({ processes: count, cores: availableParallelism() }, `server.workers = 0 gives each of the ${count} processes one runner thread per core: set server.workers so that processes × workers is about the number of cores`);
    }
  };

  const exited = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    if (slot.worker !== worker) return;
    const servedMs = slot.readySince === undefined ? 0 : Date.now() - slot.readySince;
    if (phase === 'stopping') {
      if (code !== 0) failed = true;
      if (live().length === 0) finish();
      return;
    }
    if (phase === 'starting') {
      // It said why on stderr; restarting would only say it again, as one process would not.
      logger.fatal({ worker: worker.process.pid, code, signal }, 'a worker failed to start: stopping the others');
      failed = true;
      stop('SIGTERM');
      return;
    }
    if (servedMs >= RESET_AFTER_MS) slot.deaths = 0;
    const delay = Math.min(RESTART_MIN_MS * 2 ** slot.deaths, RESTART_MAX_MS);
    slot.deaths += 1;
    const level = code === 0 ? 'warn' : 'error';
    logger[level]({ worker: worker.process.pid, code, signal, served_ms: servedMs, restart_in_ms: delay }, 'a worker exited: starting another in its place');
    slot.restart = setTimeout(() => fork(slot), delay);
  };

  const finish = () => {
    if (failed) logger.error('stopped: not every worker stopped cleanly');
    else logger.info('stopped cleanly');
    exit(failed ? 1 : 0);
  };

  const stop = (signal: NodeJS.Signals) => {
    if (phase === 'stopping') {
      logger.warn({ signal, workers: pids() }, 'second signal: killing the workers and exiting now');
      for (const worker of live()) signalWorker(worker, 'SIGKILL');
      exit(130);
    }
    phase = 'stopping';
    for (const slot of slots) clearTimeout(slot.restart);
    logger.info({ signal, grace_ms: config.server.shutdown_grace, workers: pids() }, 'shutting down: every worker drains its in-flight requests');
    for (const slot of slots) {
      const { worker } = slot;
      if (!worker || worker.isDead()) continue;
      // One still starting hears it too (joinCluster) and drains once it is up.
      if (worker.isConnected()) sendTo(worker, { wess: 'shutdown', signal });
      else signalWorker(worker, 'SIGTERM');
    }
    const force = setTimeout(() => {
      logger.error({ grace_ms: config.server.shutdown_grace, workers: pids() }, 'shutdown grace period passed: killing the workers left');
      for (const worker of live()) signalWorker(worker, 'SIGKILL');
      exit(1);
    }, config.server.shutdown_grace + STOP_MARGIN_MS);
    force.unref();
    if (live().length === 0) finish();
  };

  const hangup = () => {
    if (phase === 'stopping') {
      logger.warn({ signal: 'SIGHUP' }, 'SIGHUP during shutdown: ignored');
      return;
    }
    logger.info({ signal: 'SIGHUP', workers: pids() }, 'SIGHUP: every worker reloads its config');
    for (const slot of slots) {
      if (slot.worker && slot.readySince !== undefined) signalWorker(slot.worker, 'SIGHUP');
      else slot.reloadPending = true;
    }
  };

  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', hangup);
  logger.info({ processes: count }, `starting ${count} worker processes on one port`);
  for (const slot of slots) fork(slot);
}

/** Sends over IPC; a worker that is going away may have closed its end, which is not an error here. */
function sendTo(worker: Worker, message: Message): void {
  if (worker.isConnected()) worker.send(message, (err: Error | null) => void err);
}

function signalWorker(worker: Worker, signal: NodeJS.Signals): void {
  try {
    worker.process.kill(signal);
  } catch {
    // Already gone: its exit event follows.
  }
}

export interface WorkerOptions {
  /** The app's metrics registry, which the primary aggregates. */
  registry: Registry;
  /** Brings gauges that are computed on demand (the runner pool's) up to date before a collection. */
  refresh: () => void;
  /** Starts the drain, as SIGTERM does. */
  stop: (signal: NodeJS.Signals) => void;
}

/**
 * In a worker, first thing: listens to the primary, so that a shutdown sent as soon as the primary
 * saw it listen is not lost before the app is ready; `ready` hands over the app's parts.
 */
export function joinCluster(): { ready(options: WorkerOptions): void } {
  let app: WorkerOptions | undefined;
  let pendingStop: NodeJS.Signals | undefined;
  // Before prom-client's listener (added by the constructor), so the gauges are fresh when it reads them.
  process.on('message', (message: unknown) => {
    if ((message as { type?: unknown } | null)?.type === PROM_CLIENT_REQUEST) app?.refresh();
    else if (isMessage(message) && message.wess === 'shutdown') {
      if (app) app.stop(message.signal);
      else pendingStop = message.signal;
    }
  });
  new AggregatorRegistry();
  return {
    ready(options: WorkerOptions): void {
      app = options;
      AggregatorRegistry.setRegistries([options.registry]);
      process.send?.({ wess: 'ready' } satisfies Message);
      if (pendingStop) options.stop(pendingStop);
    },
  };
}

let nextRequest = 0;

/**
 * The Prometheus text of this node: the registry's own, or in a cluster worker every worker's summed
 * (asked of the primary), since a scrape reaches any one of them.
 */
export function nodeMetrics(registry: Registry): Promise<string> {
  if (!cluster.isWorker) return registry.metrics();
  const id = nextRequest++;
  return new Promise<string>((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (!isMessage(message) || message.wess !== 'metrics-answer' || message.id !== id) return;
      done();
      if (message.text !== undefined) resolve(message.text);
      else reject(new Error(`the primary could not collect the workers' metrics: ${message.error ?? 'no answer'}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the primary did not answer with the workers' metrics within ${METRICS_TIMEOUT_MS} ms`));
    }, METRICS_TIMEOUT_MS);
    const done = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    process.on('message', onMessage);
    process.send?.({ wess: 'metrics', id } satisfies Message);
  });
}

/** True in a process forked by runPrimary. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}
