import type { ErrorCode } from '../errors.js';
import type { Interval } from '../tracing/clock.js';
import type { WasiInput, WasiOutput } from '../wasi/index.js';
import type { PooledMemory } from '../wasm/binary.js';
import type { RawResult, ValType, WasmArg } from '../wasm/types.js';

/*
 * Exactly what crosses the thread boundary between pool.ts (main thread) and worker.ts: plain,
 * structured-clone-safe data, a compiled WebAssembly.Module (posting one costs little and the worker
 * then compiles nothing), a SharedArrayBuffer control block, and a WASI call's input and output
 * (strings and byte arrays, see src/wasi/types.ts). Failures cross as {code, message}:
 * errors lose their class when cloned, so nothing may depend on instanceof across threads.
 */

/**
 * The control block of one dispatched bundle, an Int32Array over a SharedArrayBuffer that the worker
 * writes and the main thread's watchdog reads, so a deadline can be enforced without an AbortSignal
 * per task (which costs 2.6x throughput in Piscina):
 *
 *   [0] threadId    the worker running the bundle (0 until it starts)
 *   [1] index       the call executing now, or IDLE between calls and after the last one
 *   [2] startedAt   when that call started, in ms after the bundle's epoch (Date.now() is comparable
 *                   across threads, performance.now() is not; an offset keeps it in an int32)
 *   [3] next        the next call the worker may claim; the worker claims call i with
 *                   compareExchange(next, i, i + 1), the main thread takes back the calls behind a
 *                   slow one with compareExchange(next, k + 1, TAKEN); whoever wins owns the calls
 *
 * The worker stores startedAt before index, the watchdog reads index, startedAt, index again and
 * skips the bundle this tick when index moved, so it never pairs one call with another's start time.
 */
export const CONTROL = { threadId: 0, index: 1, startedAt: 2, next: 3 } as const;
export const CONTROL_BYTES = 4 * Int32Array.BYTES_PER_ELEMENT;
export const IDLE = -1;
/** `next` once the main thread has taken the rest of the bundle back. */
export const TAKEN = -2;

/** Toolchain conventions a module follows that its calls must honour, as bit flags (one small number per module). */
export const CONVENTION = {
  /** It imports AssemblyScript's env functions (host-env.ts). */
  hostEnv: 1,
  /** It exports `_initialize` (a WASI or Emscripten reactor): called before any other export, once per instance. */
  initialize: 2,
} as const;

/** A metered module's exports for the host: its fuel counter and its start function (see wasm/metering.ts). */
export interface MeteringExports {
  fuelExport: string;
  startExport: string | null;
}

/** What a metered call needs: its module's metering exports and the fuel it is given. */
export interface Metering extends MeteringExports {
  fuel: number;
}

/** The NaN bridge signature of a call whose arguments include a NaN-with-bits object. */
export interface BridgeSignature {
  params: ValType[];
  results: ValType[];
}

/*
 * Bundles cross as columns of flat arrays, not as an object per call: structured clone pays about
 * 1 µs per object and per small array, and at tens of thousands of calls a second that was the main
 * thread's largest cost (measured: 43 calls as objects 41 µs a message, as these columns 15 µs).
 * Under load bundles are small (~7 calls at concurrency 100 on 2 workers), so even one more array per
 * message shows: columns that most bundles would send empty are left out instead (the `?` ones).
 */

/** One Piscina task: a bundle of calls run one after another on fresh instances. */
export interface BundleTask {
  /** Date.now() on the main thread when the bundle was built; times in the control block are relative to it. */
  epoch: number;
  control: SharedArrayBuffer;
  /** Deduplicated modules; `module[i]` indexes this. */
  modules: WebAssembly.Module[];
  /** Per module: the export naming its memory (see exposeMemory) or null; left out when no module has one. */
  memoryExports?: (string | null)[];
  /**
   * Per module: the key a worker keeps its one instance under when its instances hold no state
   * (Compiled.sharedInstance), or null; left out when no module has one.
   */
  sharedInstances?: (string | null)[];
  /** Per call: index into modules. */
  module: number[];
  /** Per call: the export to call. */
  fn: string[];
  /** Per call: ms after the epoch past which the call is not started any more (it waited too long). */
  notAfter: number[];
  /** Per call: how many of `args` are its arguments. */
  argc: number[];
  /** Every call's arguments, one after another. */
  args: WasmArg[];
  /** [call index, signature] for the calls that go through the NaN bridge; usually empty. */
  bridges: [number, BridgeSignature][];
  /** [call index, input] for the calls that run in a WASI process; left out when there are none. */
  wasi?: [number, WasiInput][];
  /** Per module: its CONVENTION flags (0 for none); left out when no module has any. */
  conventions?: number[];
  /** Per module: its metering exports, or null for a module that is not metered; left out when none is. */
  metering?: (MeteringExports | null)[];
  /** [call index, fuel] for the calls that run metered; left out when there are none. */
  fuel?: [number, number][];
  /** Per module: the limits of the memory its instances are given (Compiled.pooledMemory), or null; left out when no module has one. */
  pooledMemories?: (PooledMemory | null)[];
  /** The calls whose trace is recorded (by index): the worker times their phases (Phases); left out when there are none. */
  phases?: number[];
}

/** A failed call, as it crosses the thread boundary. */
export interface Failure {
  code: ErrorCode;
  message: string;
  /**
   * Byte offset of the trapping instruction, set only when V8's message fits two spec texts that the
   * opcode tells apart (see traps.ts); the main thread resolves it and never passes it on.
   */
  at?: number;
}

/** What every call's answer says of its cost, the receipt of its run. */
export interface Receipt {
  /** Instantiate + call on the worker. */
  durationMs: number;
  /** CPU time of the worker thread over the call (see thread-cpu.ts); 0 for a call that never ran. */
  cpuMs: number;
  /** Fuel the call used, when it ran metered (all it was given when it ran out). */
  fuelUsed?: number;
  /** From when the dispatcher accepted the call to when a worker started it (its last run, after a re-run). */
  queuedMs: number;
  /** Where the run's time went on the worker, for a call whose trace is recorded (CallScope.tracePhases) that ran. */
  phases?: Phases;
}

/**
 * A traced call's phases on the worker, in epoch ms: performance.timeOrigin + performance.now() on
 * the worker, the one clock every thread of the process shares (each thread's performance.now()
 * counts from its own timeOrigin, so marks cross as epoch ms, never as performance.now()).
 */
export interface Phases {
  /** From when the worker took the call up to when it was done with it (its receipt's durationMs, give or take a mark). */
  run: Interval;
  /**
   * Whether the call made its instance (in a WASI process: the process too), from run.start to
   * call.start; false when it reused its worker's kept instance (a module without state, guest.ts).
   */
  instantiated: boolean;
  /** The export's call, from entry to return or throw; null when it never began (making the instance failed). */
  call: Interval | null;
}

/** The env.trace lines of a call for the log: the first TRACE_LOG_LINES, and how many more there were. */
export interface TraceLog {
  lines: string[];
  more: number;
}

/** Trace lines of one call that reach the log; its stderr has them all (up to runner.max_output). */
export const TRACE_LOG_LINES = 20;

/**
 * What a call gave; `wasi` is set for calls that ran in a WASI process (a failed one keeps what it wrote),
 * `trace` for calls that called env.trace.
 */
export type CallOutcome =
  | ({ ok: true; results: RawResult[]; memoryPages: number | null; wasi?: WasiOutput; trace?: TraceLog } & Receipt)
  | ({ ok: false; error: Failure; wasi?: WasiOutput; trace?: TraceLog } & Receipt);

/** The message of a call the worker did not start because its deadline had passed. */
export const NOT_STARTED = 'deadline passed before the call started';

/** `shape` of a call that failed (its Failure is in `failures`). */
export const FAILED = -1;
/** The memory size of a call whose module has no memory. */
export const NO_MEMORY = -1;

/*
 * A successful call's `shape`: its result count and its memory size in one small integer, so memory
 * sizes cost no column of their own (see above; a separate one cost ~4% of calls/s):
 *
 *   shape = results + RESULTS_LIMIT × (memoryPages + 1)     results < 1024 (V8 allows 1000),
 *                                                          memoryPages + 1 ≤ 65537, 0 without memory
 */
const RESULTS_LIMIT = 1024;

/**
 * A WasiOutput as it crosses back: an empty stdout or stderr is left out. Every typed array in a
 * message is an ArrayBuffer to allocate on the other side (measured: several µs each on the main
 * thread, which every HTTP handler answer and WASI run pays), and most calls write no stderr.
 */
export type WireWasiOutput = Omit<WasiOutput, 'stdout' | 'stderr'> & { stdout?: Uint8Array; stderr?: Uint8Array };

/** The answer to a BundleTask, for the calls the worker claimed (a prefix of the bundle), in order. */
export interface BundleReply {
  /** Per call: ms spent instantiating and calling. */
  durationMs: number[];
  /** Per call: ms after the task's epoch when the worker took it up. */
  startedAt: number[];
  /** Per call: CPU ms of the worker thread over the call. */
  cpuMs: number[];
  /** Per call: FAILED, or how many of `results` are its results and its memory size (see above). */
  shape: number[];
  /** Every successful call's results, one after another. */
  results: RawResult[];
  /** [call index, failure] for the calls that failed; usually empty. */
  failures: [number, Failure][];
  /** [call index, output] for the calls that ran in a WASI process; left out when there are none. */
  wasi?: [number, WireWasiOutput][];
  /** [call index, fuel used] for the calls that ran metered; left out when there are none. */
  fuelUsed?: [number, number][];
  /** [call index, trace lines] for the calls that called env.trace; left out when there are none. */
  trace?: [number, TraceLog][];
  /** [call index, phases] for the calls the task asked phases of (BundleTask.phases); left out when there are none. */
  phases?: [number, Phases][];
}

/** Builds a BundleReply one outcome at a time (worker side). */
export class ReplyBuilder {
  readonly reply: BundleReply = { durationMs: [], startedAt: [], cpuMs: [], shape: [], results: [], failures: [] };

  /** Adds when the next call started and what CPU it used; once per call, beside its ok() or fail(). */
  timed(startedAt: number, cpuMs: number): void {
    this.reply.startedAt.push(startedAt);
    this.reply.cpuMs.push(cpuMs);
  }

  /** The duration the last ok() or fail() gave. */
  get lastDurationMs(): number {
    return this.reply.durationMs.at(-1) ?? 0;
  }

  /** Adds a successful call's results and its memory size in pages (NO_MEMORY without memory). */
  ok(results: RawResult[], durationMs: number, memoryPages: number): void {
    this.reply.durationMs.push(durationMs);
    this.reply.shape.push(results.length + RESULTS_LIMIT * (memoryPages + 1));
    for (const value of results) this.reply.results.push(value);
  }

  /** Adds a failed call. */
  fail(failure: Failure, durationMs: number): void {
    this.reply.failures.push([this.reply.shape.length, failure]);
    this.reply.durationMs.push(durationMs);
    this.reply.shape.push(FAILED);
  }

  /** Adds the output of the WASI call about to be added with ok() or fail(). */
  wasi(output: WasiOutput): void {
    const { exitCode, stdout, stderr, stdoutTruncated, stderrTruncated } = output;
    const wire: WireWasiOutput = { exitCode, stdoutTruncated, stderrTruncated };
    if (stdout.length > 0) wire.stdout = stdout;
    if (stderr.length > 0) wire.stderr = stderr;
    (this.reply.wasi ??= []).push([this.reply.shape.length, wire]);
  }

  /** Adds the trace lines of the call about to be added with ok() or fail(). */
  trace(log: TraceLog): void {
    (this.reply.trace ??= []).push([this.reply.shape.length, log]);
  }

  /** Adds the fuel the metered call about to be added with ok() or fail() used. */
  fuel(used: number): void {
    (this.reply.fuelUsed ??= []).push([this.reply.shape.length, used]);
  }

  /** Adds the phases of the call last added with ok() or fail(). */
  phases(phases: Phases): void {
    (this.reply.phases ??= []).push([this.reply.shape.length - 1, phases]);
  }
}

/**
 * The outcomes of a BundleReply in call order (main side); `queuedMs(i, startedAt)` turns a call's
 * start (ms after the epoch) into its time waiting.
 */
export function outcomesOf(reply: BundleReply, queuedMs: (index: number, startedAt: number) => number): CallOutcome[] {
  const failures = reply.failures.length > 0 ? new Map(reply.failures) : undefined;
  const outcomes: CallOutcome[] = [];
  let offset = 0;
  reply.shape.forEach((shape, i) => {
    const durationMs = reply.durationMs[i] ?? 0;
    const cpuMs = reply.cpuMs[i] ?? 0;
    const queued = queuedMs(i, reply.startedAt[i] ?? 0);
    if (shape === FAILED) {
      const error = failures?.get(i) ?? { code: 'INTERNAL', message: `bundle reply lost the failure of call #${i}` };
      outcomes.push({ ok: false, error, durationMs, cpuMs, queuedMs: queued });
      return;
    }
    const count = shape % RESULTS_LIMIT;
    const pages = (shape - count) / RESULTS_LIMIT - 1;
    const results = reply.results.slice(offset, offset + count);
    outcomes.push({ ok: true, results, durationMs, cpuMs, queuedMs: queued, memoryPages: pages === NO_MEMORY ? null : pages });
    offset += count;
  });
  if (reply.wasi !== undefined) {
    for (const [i, wire] of reply.wasi) {
      const outcome = outcomes[i];
      if (outcome === undefined) continue;
      const { exitCode, stdoutTruncated, stderrTruncated } = wire;
      outcome.wasi = { exitCode, stdout: wire.stdout ?? new Uint8Array(0), stderr: wire.stderr ?? new Uint8Array(0), stdoutTruncated, stderrTruncated };
    }
  }
  if (reply.trace !== undefined) attach(outcomes, reply.trace, 'trace');
  if (reply.fuelUsed !== undefined) attach(outcomes, reply.fuelUsed, 'fuelUsed');
  if (reply.phases !== undefined) attach(outcomes, reply.phases, 'phases');
  return outcomes;
}

/** Sets `field` on the outcomes a reply's sparse list names: only the calls that have one are listed. */
function attach<K extends 'trace' | 'fuelUsed' | 'phases'>(outcomes: CallOutcome[], pairs: [number, NonNullable<CallOutcome[K]>][], field: K): void {
  for (const [i, value] of pairs) {
    const outcome = outcomes[i];
    if (outcome !== undefined) outcome[field] = value;
  }
}
