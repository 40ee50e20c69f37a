import v8 from 'node:v8';
import type { Piscina } from 'piscina';
import { wessError, type WessError } from '../errors.js';
import type { WasiInput, WasiOutput } from '../wasi/index.js';
import { inspect } from '../wasm/binary.js';
import { needsBridge } from '../wasm/nan-bridge.js';
import { PAGE_BYTES, type ValType } from '../wasm/types.js';
import type { CallRequest } from './bundle.js';
import { CompileCache, type Compiled, type Variant } from './compile-cache.js';
import { Dispatcher } from './dispatcher.js';
import { checkArgs, wasiInputForWorker } from './inputs.js';
import type { BundleReply, BundleTask, BridgeSignature, CallOutcome, Failure, Receipt } from './protocol.js';
import { createPool, emptyBundle, PoolTasks, ReadyThreads, TUNING, workersUp } from './threads.js';
import { TraceLogger } from './trace-log.js';
import { tableTrapText } from './traps.js';
import type { BatchCall, BatchItem, BatchResult, RunCall, RunFiles, RunnerOptions, RunnerStats, RunResult } from './types.js';

/*
 * The runner's facade: all the rest of Wess sees of Piscina and of WebAssembly compile/instantiate.
 * Modules are compiled here, on the main thread, once per content hash; calls are bundled to a
 * fixed pool of workers (dispatcher.ts), each on a fresh instance, under a deadline enforced by a
 * watchdog that terminates the worker (watchdog.ts). Measurements behind the choices: issue 6.
 * A runBatch is its items queued together as one bundle; a call on a module that imports WASI, or
 * given `wasi`, runs in an in-memory WASI process (wasi-call.ts); any other call does no WASI work.
 */

export type { BatchCall, BatchItem, BatchResult, CallScope, RunCall, RunFiles, RunnerOptions, RunnerStats, RunResult } from './types.js';
export type { Receipt } from './protocol.js';

/** V8's own ceiling for a 32-bit memory (4 GiB). */
const MAX_PAGES = 65536;
const DEFAULT_WASI_OUTPUT_BYTES = 65536;
/** V8's own ceiling for a table (--wasm-max-table-size). */
const DEFAULT_MAX_TABLE_ELEMENTS = 10_000_000;

/** The lane of a call that names none (auth disabled, or a caller outside HTTP). */
export const DEFAULT_LANE = 'default';

/** What a failed WASI call wrote before it failed (e.g. a trap after printing), if the error carries it. */
export function wasiOutputOf(err: unknown): WasiOutput | undefined {
  return typeof err === 'object' && err !== null ? (err as { wasiOutput?: WasiOutput }).wasiOutput : undefined;
}

/** What a failed call cost (a timeout held a worker to its deadline), if the error came from a run. */
export function receiptOf(err: unknown): Receipt | undefined {
  return typeof err === 'object' && err !== null ? (err as { receipt?: Receipt }).receipt : undefined;
}

export class Runner {
  private closing = false;
  private closed: Promise<void> | undefined;
  /** run() and runBatch() calls accepted and not yet answered, from entry (a compile may come first) to answer. */
  private active = 0;
  private onIdle: (() => void) | undefined;
  /** wess_execution_time by outcome, label children bound once (the lookup is per call otherwise). */
  private readonly executionTime: Record<'ok' | 'trap' | 'timeout' | 'error', { observe(seconds: number): void }>;
  /** The process of a call on a module importing WASI made without input: no args, env or stdin. */
  private readonly implicitWasi: WasiInput;
  /** runner.max_memory in pages: the cap of a call that asks for none, and the most any may ask for. */
  private readonly maxPages: number;
  private readonly traceLogger: TraceLogger;

  private constructor(
    private readonly options: RunnerOptions,
    private readonly pool: Piscina<BundleTask, BundleReply>,
    private readonly cache: CompileCache,
    private readonly dispatcher: Dispatcher,
    maxPages: number,
  ) {
    this.maxPages = maxPages;
    this.traceLogger = new TraceLogger(options.logger);
    const child = (outcome: string) => options.metrics.executionTime.labels({ outcome });
    this.executionTime = { ok: child('ok'), trap: child('trap'), timeout: child('timeout'), error: child('error') };
    this.implicitWasi = { args: [], env: [], stdin: new Uint8Array(0), maxOutputBytes: options.maxWasiOutputBytes ?? DEFAULT_WASI_OUTPUT_BYTES };
  }

  /** Starts a pool of `size` workers and waits until each can take calls. */
  static async start(options: RunnerOptions): Promise<Runner> {
    const maxPages = Math.min(MAX_PAGES, Math.floor(options.maxMemoryBytes / PAGE_BYTES));
    // Backstop for capMemory, process-wide (V8 flags are): no wasm memory in this process, workers
    // included, grows past the cap even if a module reached V8 uncapped. The last Runner started wins.
    v8.setFlagsFromString(`--wasm-max-mem-pages=${maxPages}`);
    const maxThreads = Math.max(options.size + TUNING.spareThreads, options.maxThreads ?? 2 * options.size + 1);
    const pool = createPool(options.size, maxThreads, options.extraThreadIdleMs ?? TUNING.extraThreadIdleMs, options.metrics, options.logger);
    const tasks = new PoolTasks(pool);
    const ready = new ReadyThreads(pool, () => dispatcher.wake());
    const dispatcher: Dispatcher = new Dispatcher({
      ...TUNING,
      workers: options.size,
      maxThreads,
      longCallMs: options.longCallMs ?? 50,
      queueLimit: options.queueLimit,
      runTask: (task) => tasks.run(task),
      terminate: (threadId) => tasks.stop(threadId),
      readyThreads: () => ready.count,
      metrics: options.metrics,
      logger: options.logger,
    });
    try {
      // An empty bundle per thread (the spare too): proves the worker script loads before we call the runner ready.
      await Promise.all(Array.from({ length: pool.threads.length }, () => pool.run(emptyBundle())));
    } catch (err) {
      await pool.destroy();
      throw err;
    }
    options.metrics.poolWorkers.set(workersUp(pool, options.size));
    return new Runner(options, pool, new CompileCache(options.compiledCacheSize, options.maxTableElements ?? DEFAULT_MAX_TABLE_ELEMENTS, options.metrics), dispatcher, maxPages);
  }

  /** True while the pool is up and not closing. */
  get ready(): boolean {
    return !this.closing && this.pool.threads.length > 0;
  }

  /**
   * Compiles (V8 validates) and caches by sha256 and memory cap (runner.max_memory unless a smaller
   * `maxMemoryPages` is given); throws INVALID_WASM with V8's message on CompileError. Applies
   * capMemory and exposeMemory first.
   */
  async compile(sha256: string, bytes: Uint8Array, maxMemoryPages?: number): Promise<{ module: WebAssembly.Module; cached: boolean }> {
    const { compiled, cached } = await this.cache.compile(sha256, bytes, this.variantOf({ maxMemoryPages }));
    return { module: compiled.module, cached };
  }

  /** Until when (Date.now() ms) `lane` is suspected after a timeout (dispatcher.ts), or undefined. */
  suspectUntil(lane: string): number | undefined {
    return this.dispatcher.suspectUntil(lane);
  }

  /** One call on a fresh instance (in a fresh WASI process when given `wasi` or when the module imports WASI). */
  async run(call: RunCall): Promise<RunResult> {
    if (this.closing) throw wessError('UNAVAILABLE', 'the runner is shutting down');
    this.active++;
    try {
      return await this.runAccepted(call);
    } finally {
      if (--this.active === 0) this.onIdle?.();
    }
  }

  /** Every tuple of `argsList` on a fresh instance, in one pool task; answers in order, a failing item fails alone. */
  async runBatch(call: BatchCall): Promise<BatchResult> {
    if (this.closing) throw wessError('UNAVAILABLE', 'the runner is shutting down');
    this.active++;
    try {
      return await this.runBatchAccepted(call);
    } finally {
      if (--this.active === 0) this.onIdle?.();
    }
  }

  private async runAccepted(call: RunCall): Promise<RunResult> {
    checkArgs(call.args);
    const variant = this.variantOf(call);
    let compiled = this.cache.get(call.sha256, variant);
    const compileCached = compiled !== undefined;
    compiled ??= await this.compileStored(call.sha256, variant);
    const bridge = needsBridge(call.args) ? await this.bridgeFor(call, call.results) : undefined;
    const wasi = call.wasi === undefined && !compiled.inProcess ? undefined : this.wasiInput(call.wasi, call.files);
    const timeoutMs = call.timeoutMs ?? this.options.timeoutMs;
    const phases = call.tracePhases;
    const outcome = await this.dispatcher.submit({
      sha256: call.sha256, compiled, fn: call.fn, args: call.args, bridge, wasi, timeoutMs,
      lane: call.lane ?? DEFAULT_LANE, maxConcurrency: call.maxConcurrency, fuel: call.fuel, background: call.background, phases,
    });
    this.record(outcome, call);
    if (!outcome.ok) throw await this.errorFor(call, variant, outcome, outcome.error);
    // Literals rather than one extended: a plain untraced call's result keeps one shape and never has `wasi`.
    const { results, durationMs, cpuMs, queuedMs, memoryPages, fuelUsed } = outcome;
    if (outcome.wasi === undefined && fuelUsed === undefined && phases !== true) return { results, durationMs, cpuMs, queuedMs, compileCached, memoryPages };
    return { results, durationMs, cpuMs, queuedMs, compileCached, memoryPages, wasi: outcome.wasi, fuelUsed, phases: outcome.phases };
  }

  /**
   * The compile a call needs: its memory cap in pages (what it asks for, never more than
   * runner.max_memory), metered when it carries fuel.
   */
  private variantOf(scope: { maxMemoryPages?: number; fuel?: number }): Variant {
    const maxPages = scope.maxMemoryPages === undefined ? this.maxPages : Math.max(0, Math.min(scope.maxMemoryPages, this.maxPages));
    return { maxPages, metered: scope.fuel !== undefined };
  }

  /** The process input of a WASI call: the caller's, or an empty one for a module that imports WASI; with the version's files when it has any. */
  private wasiInput(given: WasiInput | undefined, files: RunFiles | undefined): WasiInput {
    const input = given === undefined ? this.implicitWasi : wasiInputForWorker(given);
    return files === undefined ? input : { ...input, files: files.files, maxScratchBytes: files.maxScratchBytes };
  }

  private async runBatchAccepted(call: BatchCall): Promise<BatchResult> {
    for (const args of call.argsList) checkArgs(args);
    const variant = this.variantOf(call);
    let compiled = this.cache.get(call.sha256, variant);
    const compileCached = compiled !== undefined;
    compiled ??= await this.compileStored(call.sha256, variant);
    const requests = await this.batchRequests(call, compiled);
    const outcomes = await Promise.all(this.dispatcher.submitGroup(requests));
    const items = await Promise.all(outcomes.map((outcome) => this.itemOf(call, variant, outcome)));
    return { items, compileCached };
  }

  private async batchRequests(call: BatchCall, compiled: Compiled): Promise<CallRequest[]> {
    let wasi = compiled.inProcess ? this.wasiInput(undefined, call.files) : undefined;
    if (wasi !== undefined && call.itemOutputBytes !== undefined) wasi = { ...wasi, maxOutputBytes: Math.min(wasi.maxOutputBytes, call.itemOutputBytes) };
    const timeoutMs = call.timeoutMs ?? this.options.timeoutMs;
    const lane = call.lane ?? DEFAULT_LANE;
    let results = call.results;
    const requests: CallRequest[] = [];
    for (const args of call.argsList) {
      let bridge: BridgeSignature | undefined;
      if (needsBridge(args)) {
        bridge = await this.bridgeFor(call, results);
        results = bridge.results; // read from the module once per batch, not per item
      }
      requests.push({ sha256: call.sha256, compiled, fn: call.fn, args, bridge, wasi, timeoutMs, lane, maxConcurrency: call.maxConcurrency, fuel: call.fuel, background: call.background, phases: call.tracePhases });
    }
    return requests;
  }

  private async itemOf(call: BatchCall, variant: Variant, outcome: CallOutcome): Promise<BatchItem> {
    this.record(outcome, call);
    let item: BatchItem;
    const { durationMs, cpuMs, queuedMs } = outcome;
    if (outcome.ok) {
      item = { ok: true, results: outcome.results, durationMs, cpuMs, queuedMs, memoryPages: outcome.memoryPages };
    } else {
      const err = await this.errorFor(call, variant, undefined, outcome.error);
      item = { ok: false, code: err.code, message: err.message, durationMs, cpuMs, queuedMs };
    }
    if (outcome.wasi !== undefined) item.wasi = outcome.wasi;
    if (outcome.fuelUsed !== undefined) item.fuelUsed = outcome.fuelUsed;
    if (outcome.phases !== undefined) item.phases = outcome.phases;
    return item;
  }

  /**
   * Pool size, calls waiting and running, and Piscina's utilization (0 to 1), also set on their gauges.
   * Called when they are read (/metrics, a cluster worker asked for its registry, /health), not on a
   * timer: Piscina works its utilization out from 17 walks of its run-time histogram.
   */
  stats(): RunnerStats {
    const stats = {
      workers: workersUp(this.pool, this.options.size),
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

  /** A compile-cache miss: the module's bytes from the store, compiled for `variant` (and cached). */
  private async compileStored(sha256: string, variant: Variant): Promise<Compiled> {
    const ended = this.options.observeCompile?.(variant.metered);
    try {
      const bytes = await this.options.loadBytes(sha256);
      if (bytes === undefined) throw wessError('INTERNAL', `module content ${sha256} is not in the store`);
      const { compiled } = await this.cache.compile(sha256, bytes, variant);
      ended?.();
      return compiled;
    } catch (err) {
      ended?.(err);
      throw err;
    }
  }

  /** The NaN bridge signature; rare path (NaN-with-bits arguments), reading the result types from the module when not given. */
  private async bridgeFor(call: { sha256: string; fn: string; params: ValType[] }, results: ValType[] | undefined): Promise<BridgeSignature> {
    return { params: call.params, results: results ?? (await this.resultTypes(call.sha256, call.fn)) };
  }

  private async resultTypes(sha256: string, fn: string): Promise<ValType[]> {
    const bytes = await this.options.loadBytes(sha256);
    if (bytes === undefined) throw wessError('INTERNAL', `module content ${sha256} is not in the store`);
    const found = inspect(bytes).exports.find((e) => e.name === fn);
    if (found === undefined) throw wessError('UNKNOWN_FUNCTION', `module exports no function ${JSON.stringify(fn)}`);
    return found.results;
  }

  /** Counts the outcome's execution time and logs its trace lines, if any. */
  private record(outcome: CallOutcome, call: { sha256: string; fn: string; requestId?: string }): void {
    if (outcome.trace !== undefined) this.traceLogger.write({ requestId: call.requestId, sha256: call.sha256, fn: call.fn }, outcome.trace);
    const seconds = outcome.durationMs / 1000;
    if (outcome.ok) return this.executionTime.ok.observe(seconds);
    switch (outcome.error.code) {
      case 'UNAVAILABLE': return; // never ran
      case 'WASM_TRAP': return this.executionTime.trap.observe(seconds);
      case 'EXECUTION_TIMEOUT': return this.executionTime.timeout.observe(seconds);
      default: return this.executionTime.error.observe(seconds);
    }
  }

  /**
   * The client's error for a failure. A single call's receipt (receiptOf) and a WASI call's output so
   * far (wasiOutputOf) ride along, not enumerable: loggers and error serializers should not dump a
   * program's output.
   */
  private async errorFor(call: { sha256: string; fn: string }, variant: Variant, outcome: CallOutcome | undefined, failure: Failure): Promise<WessError> {
    if (failure.code === 'INTERNAL') this.options.logger.error({ sha256: call.sha256, fn: call.fn, reason: failure.message }, 'runner call failed');
    let message = failure.message;
    if (failure.at !== undefined) {
      const bytes = await this.options.loadBytes(call.sha256);
      if (bytes !== undefined) message = tableTrapText(this.cache.prepare(call.sha256, bytes, variant).bytes, failure.at);
    }
    const err = wessError(failure.code, message);
    if (outcome === undefined) return err;
    const receipt: Receipt = { durationMs: outcome.durationMs, cpuMs: outcome.cpuMs, queuedMs: outcome.queuedMs, fuelUsed: outcome.fuelUsed };
    if (outcome.phases !== undefined) receipt.phases = outcome.phases;
    Object.defineProperty(err, 'receipt', { value: receipt, enumerable: false });
    if (outcome.wasi !== undefined) Object.defineProperty(err, 'wasiOutput', { value: outcome.wasi, enumerable: false });
    return err;
  }
}
