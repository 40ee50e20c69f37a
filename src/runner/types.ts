import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { WasiInput, WasiOutput } from '../wasi/index.js';
import type { RawResult, ValType, WasmArg } from '../wasm/types.js';
import type { Phases } from './protocol.js';

/* What the runner's facade (pool.ts) takes and gives; pool.ts re-exports all of it. */

export interface RunnerOptions {
  size: number;
  timeoutMs: number;
  maxMemoryBytes: number;
  queueLimit: number;
  compiledCacheSize: number;
  metrics: Metrics;
  logger: Logger;
  loadBytes: (sha256: string) => Promise<Uint8Array | undefined>;
  /** Bytes kept of stdout and of stderr each when a module importing WASI is called without `wasi` input (default 64 KiB). */
  maxWasiOutputBytes?: number;
  /** Most threads while long calls hold the workers (default 2 × size + 1). */
  maxThreads?: number;
  /** A call running longer than this stops taking room from short calls (default 50 ms). */
  longCallMs?: number;
  /** The most elements any table may grow to (default V8's own ceiling, 10,000,000). */
  maxTableElements?: number;
  /** How long a thread beyond size + spare stays idle before it retires (default TUNING.extraThreadIdleMs). */
  extraThreadIdleMs?: number;
  /** Told of each compile a call waits on (a compile-cache miss; tracing): what it returns is called once the compile is done or failed. */
  observeCompile?: CompileObserver | undefined;
}

/** Watches a compile from its start to its end without knowing who asked for it. */
export type CompileObserver = (metered: boolean) => ((failure?: unknown) => void) | undefined;

/** Who a call runs for and under which limits; the same for one call and for a batch. */
export interface CallScope {
  /** Its lane: the tenant (or the key of a key without one); calls of one lane queue together, lanes take turns. */
  lane?: string;
  /** Calls of the lane that may run at once (the tier's max_concurrency); the pool size when absent. */
  maxConcurrency?: number;
  /** The module's memory maximum for this call, in pages (the tier's max_memory); runner-wide cap when absent. */
  maxMemoryPages?: number;
  /** The call's deadline, counted from when the runner accepts it; runner-wide timeout when absent. */
  timeoutMs?: number;
  /** Fuel: the call runs metered (wasm/metering.ts) and fails FUEL_EXHAUSTED when it runs out; unmetered when absent. */
  fuel?: number;
  /** The request the call answers: log lines the call causes (a guest's env.trace) carry it. */
  requestId?: string;
  /**
   * A call nobody waits on (a job): its lane is served only when no other lane can send a bundle,
   * and background lanes together hold at most all workers but one.
   */
  background?: boolean;
  /**
   * Set for a call whose trace is recorded (tracing on, sampled): the worker times its phases and its
   * result (each batch item, a failure's receipt) carries them. Left unset, a call takes no mark.
   */
  tracePhases?: boolean;
}

/**
 * A version's files for its WASI runs: the image (a SharedArrayBuffer view, src/files/image-cache.ts)
 * and the bytes a run may write over it. Merged into every WASI process input of the call.
 */
export type RunFiles = Required<Pick<WasiInput, 'files' | 'maxScratchBytes'>>;

export interface RunCall extends CallScope {
  sha256: string;
  fn: string;
  params: ValType[];
  args: WasmArg[];
  /** The export's result types; only needed for NaN-with-bits arguments, read from the module when left out. */
  results?: ValType[];
  /** Runs the call in a WASI process with this input (a command: fn '_start', no args). */
  wasi?: WasiInput;
  /** The version's files, for its WASI process (given `wasi`, or the module imports WASI); absent without files. */
  files?: RunFiles;
}

export interface RunResult {
  results: RawResult[];
  durationMs: number;
  /** CPU time of the worker thread over the call. */
  cpuMs: number;
  /** From acceptance to a worker starting the call. */
  queuedMs: number;
  /** Fuel used, for a metered call. */
  fuelUsed?: number;
  compileCached: boolean;
  /** The instance's memory size in pages when the call ended; null when the module has no memory. */
  memoryPages: number | null;
  /** Exit code and output, for a call that ran in a WASI process (given `wasi`, or the module imports WASI). */
  wasi?: WasiOutput;
  /** Where its time went on the worker, for a call given tracePhases. */
  phases?: Phases;
}

/** Many calls of one function, each on a fresh instance, sent to one worker together. */
export interface BatchCall extends CallScope {
  sha256: string;
  fn: string;
  params: ValType[];
  results?: ValType[];
  /** One argument tuple per item; each item has the deadline `timeoutMs`, as one call would. */
  argsList: WasmArg[][];
  /** Bytes of stdout and of stderr each item of a module importing WASI keeps (default: a single call's). */
  itemOutputBytes?: number;
  /** The version's files, for each item's WASI process (a module importing WASI); absent without files. */
  files?: RunFiles;
}

/** One item's answer: a failing item (trap, timeout) fails alone. `wasi` as in RunResult (a trap keeps what was written). */
export type BatchItem =
  | { ok: true; results: RawResult[]; durationMs: number; cpuMs: number; queuedMs: number; memoryPages: number | null; wasi?: WasiOutput; fuelUsed?: number; phases?: Phases }
  | { ok: false; code: ErrorCode; message: string; durationMs: number; cpuMs: number; queuedMs: number; wasi?: WasiOutput; fuelUsed?: number; phases?: Phases };

export interface BatchResult {
  /** In the order of `argsList`. */
  items: BatchItem[];
  compileCached: boolean;
}

export interface RunnerStats {
  workers: number;
  queued: number;
  inFlight: number;
  utilization: number;
}
