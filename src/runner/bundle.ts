import type { WasiInput } from '../wasi/index.js';
import type { WasmArg } from '../wasm/types.js';
import type { Compiled } from './compile-cache.js';
import type { Lane } from './lanes.js';
import { CONTROL, IDLE, TAKEN, type BundleTask, type BridgeSignature, type CallOutcome } from './protocol.js';
import { newControl } from './watchdog.js';

/** A call as the dispatcher takes it. */
export interface CallRequest {
  sha256: string;
  compiled: Compiled;
  fn: string;
  args: WasmArg[];
  bridge: BridgeSignature | undefined;
  /** Set for a call that runs in a WASI process. */
  wasi: WasiInput | undefined;
  /** Its deadline, counted from when the dispatcher accepted it: time spent waiting counts. */
  timeoutMs: number;
  /** Whose call it is (lanes.ts): the tenant, or the key of a key without one. */
  lane: string;
  /** Calls of its lane that may run at once; the lane's current setting when undefined. */
  maxConcurrency: number | undefined;
  /** Fuel of a metered call (its `compiled` is then a metered variant); undefined: not metered. */
  fuel: number | undefined;
  /** Set for a call of a background lane (CallScope.background); read when its lane is made. */
  background?: boolean;
  /** True for a call whose trace is recorded (CallScope.tracePhases): the worker times its phases. */
  phases: boolean | undefined;
}

/** A call waiting for, or running in, a bundle. */
export interface Pending extends CallRequest {
  /** The lane it waits in and whose concurrency it counts against. */
  owner: Lane;
  /** Date.now() when the dispatcher accepted it: its waiting (queued_ms) counts from here. */
  acceptedAt: number;
  /**
   * Date.now() past which it is stopped or, still waiting, answered: acceptedAt + timeoutMs, waiting
   * included. A call re-run because its worker was stopped for another call gets a whole timeout again
   * from then: its first run's answer died with the worker through no fault of its own.
   */
  deadline: number;
  reruns: number;
  /** The runBatch the call is an item of (its calls stay in one bundle, see cut()), or NO_GROUP. */
  group: number;
  done: (outcome: CallOutcome) => void;
}

export const NO_GROUP = 0;
/** Group ids wrap here; two live runBatches never share one (that would take 2^30 of them in flight). */
const MAX_GROUP = 2 ** 30;
let lastGroup = NO_GROUP;

/** A group id for the items of one runBatch. */
export function newGroup(): number {
  lastGroup = (lastGroup % MAX_GROUP) + 1;
  return lastGroup;
}

/** A dispatched bundle as the main thread tracks it. */
export interface Bundle {
  calls: Pending[];
  control: Int32Array;
  epoch: number;
  /** The lane every call of the bundle belongs to (bundles never mix lanes). */
  lane: Lane;
  /** Set once a call of the bundle has run longer than runner.long_call_ms: it no longer takes capacity from short calls. */
  long: boolean;
  /** The call the watchdog stopped, IDLE while none. */
  killedAt: number;
  /** Date.now() when the stopped call had started. */
  killedCallStartedAt: number;
  /** Calls from here on were taken back (queued again); calls.length while none were. */
  takenFrom: number;
}

/**
 * Takes the next bundle's calls off the front of `queue`: `n` of them, more when the n-th is an item of a
 * runBatch whose next items follow, so a runBatch's items go out in one task (only a take-back or a
 * re-run after a kill splits them).
 */
export function cut(queue: Pending[], n: number): Pending[] {
  let end = Math.min(n, queue.length);
  const group = queue[end - 1]?.group ?? NO_GROUP;
  if (group !== NO_GROUP) while (queue[end]?.group === group) end++;
  return queue.splice(0, end);
}

/** Builds a bundle of one lane's calls and its Piscina task (columns, see protocol.ts); each distinct module crosses once. */
export function buildBundle(lane: Lane, calls: Pending[], now: number): { bundle: Bundle; task: BundleTask } {
  const control = newControl();
  const task: BundleTask = {
    epoch: now, control: control.buffer as SharedArrayBuffer, modules: [],
    module: [], fn: [], notAfter: [], argc: [], args: [], bridges: [],
  };
  let last: Compiled | undefined;
  let lastIndex = 0;
  calls.forEach((call, i) => {
    // Bundles nearly always hold one module; look further only when it changes.
    if (call.compiled !== last) {
      last = call.compiled;
      lastIndex = task.modules.indexOf(last.module);
      if (lastIndex === -1) lastIndex = addModule(task, last);
    }
    task.module.push(lastIndex);
    task.fn.push(call.fn);
    task.notAfter.push(call.deadline - now);
    task.argc.push(call.args.length);
    for (const arg of call.args) task.args.push(arg);
    if (call.bridge !== undefined) task.bridges.push([i, call.bridge]);
    if (call.wasi !== undefined) (task.wasi ??= []).push([i, call.wasi]);
    if (call.fuel !== undefined) (task.fuel ??= []).push([i, call.fuel]);
    if (call.phases === true) (task.phases ??= []).push(i);
  });
  return { bundle: { calls, control, epoch: now, lane, long: false, killedAt: IDLE, killedCallStartedAt: 0, takenFrom: calls.length }, task };
}

/** Adds a module to the task and returns its index; memoryExports, conventions, pooledMemories and metering only once some module needs them. */
function addModule(task: BundleTask, compiled: Compiled): number {
  const index = task.modules.push(compiled.module) - 1;
  if (compiled.memoryExport !== null || task.memoryExports !== undefined) {
    task.memoryExports ??= Array.from({ length: index }, () => null);
    task.memoryExports.push(compiled.memoryExport);
  }
  if (compiled.sharedInstance !== null || task.sharedInstances !== undefined) {
    task.sharedInstances ??= Array.from({ length: index }, () => null);
    task.sharedInstances.push(compiled.sharedInstance);
  }
  if (compiled.conventions !== 0 || task.conventions !== undefined) {
    task.conventions ??= Array.from({ length: index }, () => 0);
    task.conventions.push(compiled.conventions);
  }
  if (compiled.pooledMemory !== null || task.pooledMemories !== undefined) {
    task.pooledMemories ??= Array.from({ length: index }, () => null);
    task.pooledMemories.push(compiled.pooledMemory);
  }
  if (compiled.metering !== null || task.metering !== undefined) {
    task.metering ??= Array.from({ length: index }, () => null);
    task.metering.push(compiled.metering);
  }
  return index;
}

/**
 * Takes back the calls behind call `running` if the worker has not claimed the next one yet, so they
 * need not wait for a slow (maybe endless) neighbour. Returns them, or [] when there are none or the
 * worker got there first.
 */
export function takeBack(bundle: Bundle, running: number): Pending[] {
  const from = running + 1;
  if (from >= bundle.takenFrom) return [];
  if (Atomics.compareExchange(bundle.control, CONTROL.next, from, TAKEN) !== from) return [];
  bundle.takenFrom = from;
  return bundle.calls.slice(from);
}

/** The calls a bundle still owns (those not taken back). */
export function ownCalls(bundle: Bundle): Pending[] {
  return bundle.takenFrom === bundle.calls.length ? bundle.calls : bundle.calls.slice(0, bundle.takenFrom);
}
