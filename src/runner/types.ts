import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { WasiInput, WasiOutput } from '../wasi/index.js';
import type { RawResult, ValType, WasmArg } from '../wasm/types.js';

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
}

export interface RunCall {
  sha256: string;
  fn: string;
  params: ValType[];
  args: WasmArg[];
  timeoutMs?: number;
  /** The export's result types; only needed for NaN-with-bits arguments, read from the module when left out. */
  results?: ValType[];
  /** Runs the call in a WASI process with this input (a command: fn '_start', no args). */
  wasi?: WasiInput;
}

export interface RunResult {
  results: RawResult[];
  durationMs: number;
  compileCached: boolean;
  /** The instance's memory size in pages when the call ended; null when the module has no memory. */
  memoryPages: number | null;
  /** Exit code and output, for a call that ran in a WASI process (given `wasi`, or the module imports WASI). */
  wasi?: WasiOutput;
}

/** Many calls of one function, each on a fresh instance, sent to one worker together. */
export interface BatchCall {
  sha256: string;
  fn: string;
  params: ValType[];
  results?: ValType[];
  /** One argument tuple per item. */
  argsList: WasmArg[][];
  /** Each item's own deadline, as for one call. */
  timeoutMs?: number;
}

/** One item's answer: a failing item (trap, timeout) fails alone. `wasi` as in RunResult (a trap keeps what was written). */
export type BatchItem =
  | { ok: true; results: RawResult[]; durationMs: number; memoryPages: number | null; wasi?: WasiOutput }
  | { ok: false; code: ErrorCode; message: string; wasi?: WasiOutput };

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
