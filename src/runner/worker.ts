import { threadId } from 'node:worker_threads';
import type { WasiInput } from '../wasi/index.js';
import { keeps, runCall } from './guest.js';
import { PhaseClock } from './phase-clock.js';
import { CONTROL, IDLE, NOT_STARTED, ReplyBuilder, type BundleReply, type BundleTask, type BridgeSignature, type Metering } from './protocol.js';
import { CallCpu, threadCpuReader } from './thread-cpu.js';

/*
 * The Piscina task handler. Running calls is synchronous on purpose: with atomics 'sync' the worker
 * picks up its next message without a trip through its event loop, and a guest that never returns can
 * only be stopped from outside (the main thread's watchdog terminates this thread), never from in here.
 */

type WasiCall = typeof import('./wasi-call.js');

/**
 * The WASI path, loaded on the worker's first WASI call. The shim is a dozen modules, and a worker's
 * start-up is the respawn every kill pays (measured: ~80 → ~105 ms here with it loaded eagerly).
 */
let wasiCall: WasiCall | undefined;
const readCpu = threadCpuReader();

/** Runs the calls of a bundle it can claim, each on a fresh instance, reporting progress in the control block. */
export default function runBatch(task: BundleTask): BundleReply | Promise<BundleReply> {
  if (task.wasi !== undefined && wasiCall === undefined) {
    return import('./wasi-call.js').then((loaded) => {
      wasiCall = loaded;
      return runCalls(task);
    });
  }
  return runCalls(task);
}

function runCalls(task: BundleTask): BundleReply {
  const control = new Int32Array(task.control);
  Atomics.store(control, CONTROL.threadId, threadId);
  const reply = new ReplyBuilder();
  const cpu = new CallCpu(readCpu);
  const bridges = task.bridges.length > 0 ? new Map<number, BridgeSignature>(task.bridges) : undefined;
  const wasi = task.wasi === undefined ? undefined : new Map<number, WasiInput>(task.wasi);
  const fuel = task.fuel === undefined ? undefined : new Map<number, number>(task.fuel);
  const traced = task.phases === undefined ? undefined : new Set(task.phases);
  let argsAt = 0;
  for (let index = 0; index < task.fn.length; index++) {
    // The main thread may have taken the rest back (they wait behind a slow call); then stop here.
    if (Atomics.compareExchange(control, CONTROL.next, index, index + 1) !== index) break;
    const fn = task.fn[index] as string;
    const args = task.args.slice(argsAt, (argsAt += task.argc[index] ?? 0));
    const startedAt = Date.now() - task.epoch;
    if (startedAt > (task.notAfter[index] ?? Infinity)) {
      // Its deadline passed while it waited; the main thread words the answer (it knows why it waited).
      reply.fail({ code: 'UNAVAILABLE', message: NOT_STARTED }, 0);
      reply.timed(startedAt, 0);
      continue;
    }
    Atomics.store(control, CONTROL.startedAt, startedAt);
    Atomics.store(control, CONTROL.index, index);
    const m = task.module[index] ?? -1;
    const module = task.modules[m];
    const memoryExport = task.memoryExports?.[m] ?? null;
    const shared = task.sharedInstances?.[m] ?? null;
    const conventions = task.conventions?.[m] ?? 0;
    const input = wasi?.get(index);
    const metering = meteringOf(task, m, fuel?.get(index));
    // Only a traced call has a clock: an untraced one takes no mark and adds nothing to the reply.
    const clock = traced?.has(index) === true ? new PhaseClock(input === undefined && shared !== null && keeps(shared)) : undefined;
    // A module with a pooled memory is in-process, and every call of one carries WASI input (pool.ts).
    if (input === undefined) runCall(reply, module, memoryExport, shared, fn, args, bridges?.get(index), metering, conventions, clock);
    else {
      const pooledMemory = task.pooledMemories?.[m] ?? null;
      (wasiCall as WasiCall).runWasiCall(reply, { module, memoryExport, pooledMemory, fn, args, bridge: bridges?.get(index), metering, conventions }, input, clock);
    }
    if (clock !== undefined) reply.phases(clock.phases());
    reply.timed(startedAt, cpu.charge(reply.lastDurationMs));
    Atomics.store(control, CONTROL.index, IDLE);
  }
  return reply.reply;
}

/** The metering of a call given `fuel` on module `m`, or undefined for a call that runs unmetered. */
function meteringOf(task: BundleTask, m: number, fuel: number | undefined): Metering | undefined {
  const exports = fuel === undefined ? undefined : task.metering?.[m];
  return exports === undefined || exports === null || fuel === undefined ? undefined : { ...exports, fuel };
}
