import v8 from 'node:v8';
import { Piscina } from 'piscina';
import { wessError, type WessError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { inspect } from '../wasm/binary.js';
import { needsBridge } from '../wasm/nan-bridge.js';
import type { RawResult, ValType, WasmArg } from '../wasm/types.js';
import { CompileCache } from './compile-cache.js';
import { Dispatcher } from './dispatcher.js';
import { buildBatch } from './batch.js';
import { type BatchReply, type BatchTask, type CallOutcome, type Failure } from './protocol.js';
import { tableTrapText } from './traps.js';

/*
 * The runner's facade: all the rest of Wess sees of Piscina and of WebAssembly compile/instantiate.
 * Modules are compiled here, on the main thread, once per content hash; calls are micro-batched to a
 * fixed pool of workers (dispatcher.ts), each on a fresh instance, under a deadline enforced by a
 * watchdog that terminates the worker (watchdog.ts). Measurements behind the choices: issue 6.
 */

const PAGE_BYTES = 65536;
/** V8's own ceiling for a 32-bit memory (4 GiB). */
const MAX_PAGES = 65536;
const GAUGE_REFRESH_MS = 1000;
const WORKER_URL = new URL('./worker.js', import.meta.url);

/** Tuning, measured with bench (see the report in issue 6); not configuration users need. */
const TUNING = {
  /** Piscina tasks queued per worker. 1 keeps a batch from ever waiting behind a guest that spins. */
  tasksPerWorker: 1,
  /** Most calls in one batch: bounds the wait behind slow neighbours and the re-runs after a kill. */
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

export interface RunnerOptions {
  size: number;
  timeoutMs: number;
  maxMemoryBytes: number;
  queueLimit: number;
  compiledCacheSize: number;
  metrics: Metrics;
  logger: Logger;
  loadBytes: (sha256: string) => Promise<Uint8Array | undefined>;
}

export interface RunCall {
  sha256: string;
  fn: string;
  params: ValType[];
  args: WasmArg[];
  timeoutMs?: number;
  /** The export's result types; only needed for NaN-with-bits arguments, read from the module when left out. */
  results?: ValType[];
}

export interface RunResult {
  results: RawResult[];
  durationMs: number;
  compileCached: boolean;
}

export interface RunnerStats {
  workers: number;
  queued: number;
  inFlight: number;
  utilization: number;
}

export class Runner {
  private closing = false;
  private closed: Promise<void> | undefined;
  /** run() calls accepted and not yet answered, from entry (a compile may come first) to answer. */
  private active = 0;
  private onIdle: (() => void) | undefined;
  private readonly gaugeTimer: NodeJS.Timeout;
  /** wess_execution_time by outcome, label children bound once (the lookup is per call otherwise). */
  private readonly executionTime: Record<'ok' | 'trap' | 'timeout' | 'error', { observe(seconds: number): void }>;

  private constructor(
    private readonly options: RunnerOptions,
    private readonly pool: Piscina<BatchTask, BatchReply>,
    private readonly cache: CompileCache,
    private readonly dispatcher: Dispatcher,
  ) {
    const child = (outcome: string) => options.metrics.executionTime.labels({ outcome });
    this.executionTime = { ok: child('ok'), trap: child('trap'), timeout: child('timeout'), error: child('error') };
    // Piscina's utilization is computed on demand; a scrape between health checks still sees it fresh.
    this.gaugeTimer = setInterval(() => this.stats(), GAUGE_REFRESH_MS).unref();
  }

  /** Starts a pool of `size` workers and waits until each can take calls. */
  static async start(options: RunnerOptions): Promise<Runner> {
    const maxPages = Math.min(MAX_PAGES, Math.floor(options.maxMemoryBytes / PAGE_BYTES));
    // Backstop for capMemory, process-wide (V8 flags are): no wasm memory in this process, workers
    // included, grows past the cap even if a module reached V8 uncapped. The last Runner started wins.
    v8.setFlagsFromString(`--wasm-max-mem-pages=${maxPages}`);
    const pool = createPool(options);
    const dispatcher = new Dispatcher({
      workers: options.size,
      tasksPerWorker: TUNING.tasksPerWorker,
      maxBatch: TUNING.maxBatch,
      queueLimit: options.queueLimit,
      waitFactor: TUNING.waitFactor,
      watchdogIntervalMs: TUNING.watchdogIntervalMs,
      takeBackAfterMs: TUNING.takeBackAfterMs,
      maxReruns: TUNING.maxReruns,
      suspectTtlMs: TUNING.suspectTtlMs,
      runTask: (task) => pool.run(task),
      terminate: (threadId) => terminateThread(pool, threadId),
      metrics: options.metrics,
      logger: options.logger,
    });
    try {
      // An empty batch per worker: proves the worker script loads before we call the runner ready.
      await Promise.all(Array.from({ length: options.size }, () => pool.run(emptyBatch())));
    } catch (err) {
      await pool.destroy();
      throw err;
    }
    options.metrics.poolWorkers.set(pool.threads.length);
    return new Runner(options, pool, new CompileCache(options.compiledCacheSize, maxPages, options.metrics), dispatcher);
  }

  /** True while the pool is up and not closing. */
  get ready(): boolean {
    return !this.closing && this.pool.threads.length > 0;
  }

  /** Compiles (V8 validates) and caches by sha256; throws INVALID_WASM with V8's message on CompileError. Applies capMemory first. */
  compile(sha256: string, bytes: Uint8Array): Promise<{ module: WebAssembly.Module; cached: boolean }> {
    return this.cache.compile(sha256, bytes);
  }

  /** One call on a fresh instance. */
  async run(call: RunCall): Promise<RunResult> {
    if (this.closing) throw wessError('UNAVAILABLE', 'the runner is shutting down');
    this.active++;
    try {
      return await this.runAccepted(call);
    } finally {
      if (--this.active === 0) this.onIdle?.();
    }
  }

  private async runAccepted(call: RunCall): Promise<RunResult> {
    checkArgs(call.args);
    let module = this.cache.get(call.sha256);
    const compileCached = module !== undefined;
    module ??= await this.compileStored(call.sha256);
    const bridge = needsBridge(call.args)
      ? { params: call.params, results: call.results ?? (await this.resultTypes(call.sha256, call.fn)) }
      : undefined;
    const timeoutMs = call.timeoutMs ?? this.options.timeoutMs;
    const outcome = await this.dispatcher.submit({ sha256: call.sha256, module, fn: call.fn, args: call.args, bridge, timeoutMs });
    this.record(outcome);
    if (outcome.ok) return { results: outcome.results, durationMs: outcome.durationMs, compileCached };
    throw await this.errorFor(call, outcome.error);
  }

  /** Pool size, calls waiting and running, and Piscina's utilization (0 to 1). */
  stats(): RunnerStats {
    const stats = {
      workers: this.pool.threads.length,
      queued: this.dispatcher.queued,
      inFlight: this.dispatcher.inFlightCalls,
      utilization: this.pool.utilization,
    };
    this.options.metrics.poolWorkers.set(stats.workers);
    this.options.metrics.poolUtilization.set(stats.utilization);
    return stats;
  }

  /** Stops accepting calls (UNAVAILABLE), lets queued and in-flight ones finish for up to graceMs, then destroys the pool. */
  close(graceMs = this.options.timeoutMs): Promise<void> {
    this.closed ??= this.shutdown(graceMs);
    return this.closed;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.gaugeTimer);
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      if (this.active === 0) return resolve();
      this.onIdle = resolve;
      timer = setTimeout(resolve, graceMs);
    });
    clearTimeout(timer);
    this.dispatcher.stop();
    await this.pool.destroy();
    this.options.metrics.poolWorkers.set(0);
  }

  private async compileStored(sha256: string): Promise<WebAssembly.Module> {
    const bytes = await this.options.loadBytes(sha256);
    if (bytes === undefined) throw wessError('INTERNAL', `module content ${sha256} is not in the store`);
    return (await this.cache.compile(sha256, bytes)).module;
  }

  /** Rare path (NaN-with-bits arguments whose caller left out the result types): read them from the module. */
  private async resultTypes(sha256: string, fn: string): Promise<ValType[]> {
    const bytes = await this.options.loadBytes(sha256);
    if (bytes === undefined) throw wessError('INTERNAL', `module content ${sha256} is not in the store`);
    const found = inspect(bytes).exports.find((e) => e.name === fn);
    if (found === undefined) throw wessError('UNKNOWN_FUNCTION', `module exports no function ${JSON.stringify(fn)}`);
    return found.results;
  }

  private record(outcome: CallOutcome): void {
    const seconds = outcome.durationMs / 1000;
    if (outcome.ok) return this.executionTime.ok.observe(seconds);
    switch (outcome.error.code) {
      case 'UNAVAILABLE': return; // never ran
      case 'WASM_TRAP': return this.executionTime.trap.observe(seconds);
      case 'EXECUTION_TIMEOUT': return this.executionTime.timeout.observe(seconds);
      default: return this.executionTime.error.observe(seconds);
    }
  }

  private async errorFor(call: RunCall, failure: Failure): Promise<WessError> {
    if (failure.code === 'INTERNAL') this.options.logger.error({ sha256: call.sha256, fn: call.fn, reason: failure.message }, 'runner call failed');
    if (failure.at === undefined) return wessError(failure.code, failure.message);
    const bytes = await this.options.loadBytes(call.sha256);
    const message = bytes === undefined ? failure.message : tableTrapText(this.cache.capped(bytes), failure.at);
    return wessError(failure.code, message);
  }
}

function createPool(options: RunnerOptions): Piscina<BatchTask, BatchReply> {
  const pool = new Piscina<BatchTask, BatchReply>({
    filename: WORKER_URL.href,
    // A fixed size: a worker killed for a runaway guest is replaced, never left missing.
    minThreads: options.size,
    maxThreads: options.size,
    idleTimeout: Infinity,
    atomics: 'sync',
    concurrentTasksPerWorker: TUNING.tasksPerWorker,
  });
  const count = () => options.metrics.poolWorkers.set(pool.threads.length);
  pool.on('workerCreate', count);
  pool.on('workerDestroy', count);
  // Emitted for a worker error while it has no task; tasks that fail reach the dispatcher instead.
  pool.on('error', (err: unknown) => options.logger.error({ err }, 'runner worker error'));
  return pool;
}

/**
 * Arguments reach the worker inside a batch shared with other calls; one that cannot be cloned would
 * fail the whole batch, so a caller bug is caught here (values.ts only makes these three shapes).
 */
function checkArgs(args: WasmArg[]): void {
  for (const arg of args) {
    if (typeof arg === 'number' || typeof arg === 'bigint') continue;
    if (typeof arg === 'object' && arg !== null && (arg.type === 'f32' || arg.type === 'f64')) continue;
    throw wessError('INTERNAL', `call argument ${String(arg)} is not a wasm value`);
  }
}

function terminateThread(pool: Piscina, threadId: number): boolean {
  const worker = pool.threads.find((w) => w.threadId === threadId);
  if (worker === undefined) return false;
  void worker.terminate();
  return true;
}

function emptyBatch(): BatchTask {
  return buildBatch([], Date.now(), () => 0).task;
}
