import { performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import { wessError } from '../errors.js';
import { argsForBridge, bridgeModuleBytes } from '../wasm/nan-bridge.js';
import type { RawResult, ValType, WasmArg } from '../wasm/types.js';
import { CONTROL, IDLE, ReplyBuilder, type BatchReply, type BatchTask, type BridgeSignature } from './protocol.js';
import { failureFrom } from './traps.js';

/*
 * The Piscina task handler. It is synchronous on purpose: with atomics 'sync' the worker picks up its
 * next message without a trip through its event loop, and a guest that never returns can only be
 * stopped from outside (the main thread's watchdog terminates this thread), never from in here.
 */

type GuestFunction = (...args: (number | bigint)[]) => unknown;

const NO_IMPORTS = {};
/** Bridge modules by signature; a worker sees few distinct signatures with NaN arguments. */
const bridges = new Map<string, WebAssembly.Module>();
const MAX_BRIDGES = 256;

/** Runs the calls of a batch it can claim, each on a fresh instance, reporting progress in the control block. */
export default function runBatch(task: BatchTask): BatchReply {
  const control = new Int32Array(task.control);
  Atomics.store(control, CONTROL.threadId, threadId);
  const reply = new ReplyBuilder();
  const signatures = task.bridges.length > 0 ? new Map(task.bridges) : undefined;
  let argsAt = 0;
  for (let index = 0; index < task.fn.length; index++) {
    // The main thread may have taken the rest back (they wait behind a slow call); then stop here.
    if (Atomics.compareExchange(control, CONTROL.next, index, index + 1) !== index) break;
    const fn = task.fn[index] as string;
    const args = task.args.slice(argsAt, (argsAt += task.argc[index] ?? 0));
    const startedAt = Date.now() - task.epoch;
    if (startedAt > (task.notAfter[index] ?? Infinity)) {
      reply.fail({ code: 'UNAVAILABLE', message: `call to ${JSON.stringify(fn)} waited too long for a worker and was not started; the runner is overloaded` }, 0);
      continue;
    }
    Atomics.store(control, CONTROL.startedAt, startedAt);
    Atomics.store(control, CONTROL.index, index);
    runCall(reply, task.modules[task.module[index] ?? -1], fn, args, signatures?.get(index));
    Atomics.store(control, CONTROL.index, IDLE);
  }
  return reply.reply;
}

function runCall(reply: ReplyBuilder, module: WebAssembly.Module | undefined, name: string, args: WasmArg[], bridge: BridgeSignature | undefined): void {
  const started = performance.now();
  let results: RawResult[];
  try {
    if (module === undefined) throw wessError('INTERNAL', 'batch names a module it does not carry');
    // A fresh instance per call: nothing a call leaves in memory or globals reaches the next one.
    const instance = new WebAssembly.Instance(module, NO_IMPORTS);
    const fn = instance.exports[name];
    if (typeof fn !== 'function') throw wessError('UNKNOWN_FUNCTION', `module exports no function ${JSON.stringify(name)}`);
    const raw = bridge === undefined
      ? (fn as GuestFunction)(...(args as (number | bigint)[]))
      : callThroughBridge(fn as GuestFunction, bridge, args);
    results = normalise(raw);
  } catch (err) {
    reply.fail(failureFrom(err, args), performance.now() - started);
    return;
  }
  reply.ok(results, performance.now() - started);
}

/** JS hands back nothing, one value or (multi-value) an array; callers always get an array. */
function normalise(raw: unknown): RawResult[] {
  const results: unknown[] = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  // A funcref or externref result cannot be cloned to the main thread; posting it would kill the worker.
  for (const value of results) {
    if (typeof value !== 'number' && typeof value !== 'bigint') {
      throw wessError('INVALID_ARGUMENT', 'the function returns a reference, which cannot be sent as a result');
    }
  }
  return results as RawResult[];
}

/** Calls `target` wasm → wasm through a module that takes floats as bits, so NaN signs and payloads survive. */
function callThroughBridge(target: GuestFunction, sig: BridgeSignature, args: WasmArg[]): unknown {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(bridgeFor(sig.params, sig.results), { m: { f: target } });
  } catch (err) {
    // A LinkError here means the signature we were given is not the export's: our bug, not the guest's.
    throw wessError('INTERNAL', `NaN bridge does not fit the export: ${err instanceof Error ? err.message : String(err)}`);
  }
  return (instance.exports['f'] as GuestFunction)(...argsForBridge(sig.params, args));
}

function bridgeFor(params: ValType[], results: ValType[]): WebAssembly.Module {
  const key = `${params.join(',')}>${results.join(',')}`;
  let module = bridges.get(key);
  if (module === undefined) {
    if (bridges.size >= MAX_BRIDGES) bridges.clear();
    module = new WebAssembly.Module(bridgeModuleBytes(params, results));
    bridges.set(key, module);
  }
  return module;
}
