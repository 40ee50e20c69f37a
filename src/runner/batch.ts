import type { WasmArg } from '../wasm/types.js';
import { CONTROL, IDLE, TAKEN, type BatchTask, type BridgeSignature, type CallOutcome } from './protocol.js';
import { newControl } from './watchdog.js';

/** A call as the dispatcher takes it. */
export interface CallRequest {
  sha256: string;
  module: WebAssembly.Module;
  fn: string;
  args: WasmArg[];
  bridge: BridgeSignature | undefined;
  timeoutMs: number;
}

/** A call waiting for, or running in, a batch. */
export interface Pending extends CallRequest {
  /** Date.now() when it joined the queue (again, after a re-run or a take-back). */
  enqueuedAt: number;
  reruns: number;
  done: (outcome: CallOutcome) => void;
}

/** A dispatched batch as the main thread tracks it. */
export interface Batch {
  calls: Pending[];
  control: Int32Array;
  epoch: number;
  /** The call the watchdog stopped, IDLE while none. */
  killedAt: number;
  /** Calls from here on were taken back (queued again); calls.length while none were. */
  takenFrom: number;
}

/** Builds a batch and its Piscina task (columns, see protocol.ts); each distinct module crosses once. */
export function buildBatch(calls: Pending[], now: number, maxWait: (call: Pending) => number): { batch: Batch; task: BatchTask } {
  const control = newControl();
  const task: BatchTask = {
    epoch: now, control: control.buffer as SharedArrayBuffer, modules: [],
    module: [], fn: [], notAfter: [], argc: [], args: [], bridges: [],
  };
  let last: WebAssembly.Module | undefined;
  let lastIndex = 0;
  calls.forEach((call, i) => {
    // Batches nearly always hold one module; look further only when it changes.
    if (call.module !== last) {
      last = call.module;
      lastIndex = task.modules.indexOf(last);
      if (lastIndex === -1) lastIndex = task.modules.push(last) - 1;
    }
    task.module.push(lastIndex);
    task.fn.push(call.fn);
    task.notAfter.push(call.enqueuedAt + maxWait(call) - now);
    task.argc.push(call.args.length);
    for (const arg of call.args) task.args.push(arg);
    if (call.bridge !== undefined) task.bridges.push([i, call.bridge]);
  });
  return { batch: { calls, control, epoch: now, killedAt: IDLE, takenFrom: calls.length }, task };
}

/**
 * Takes back the calls behind call `running` if the worker has not claimed the next one yet, so they
 * need not wait for a slow (maybe endless) neighbour. Returns them, or [] when there are none or the
 * worker got there first.
 */
export function takeBack(batch: Batch, running: number): Pending[] {
  const from = running + 1;
  if (from >= batch.takenFrom) return [];
  if (Atomics.compareExchange(batch.control, CONTROL.next, from, TAKEN) !== from) return [];
  batch.takenFrom = from;
  return batch.calls.slice(from);
}

/** The calls a batch still owns (those not taken back). */
export function ownCalls(batch: Batch): Pending[] {
  return batch.takenFrom === batch.calls.length ? batch.calls : batch.calls.slice(0, batch.takenFrom);
}
