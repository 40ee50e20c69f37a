import { performance } from 'node:perf_hooks';
import { wessError } from '../errors.js';
import { fuelLeft, fuelUsed, setFuel } from '../wasm/fuel.js';
import { PAGE_BYTES, type RawResult, type WasmArg } from '../wasm/types.js';
import { callThroughBridge } from './bridge.js';
import { HostEnv } from './host-env.js';
import type { PhaseClock } from './phase-clock.js';
import { CONVENTION, NO_MEMORY, type BridgeSignature, type Failure, type Metering, type ReplyBuilder } from './protocol.js';
import { failureFrom } from './traps.js';

/*
 * One guest call on a fresh instance, worker side: instantiate, call, read the memory size. The hot
 * path takes its inputs as parameters, not as an object per call or a shared one (measured: ~2% of
 * calls/s at concurrency 100). A module whose instances hold no state (wasm/state.ts) runs on one
 * instance per worker instead, which no call can tell from a fresh one.
 */

export type GuestFunction = (...args: (number | bigint)[]) => unknown;

const NO_IMPORTS = {};
/** Instances of stateless modules kept per worker thread, at most this many (the oldest goes first). */
const KEPT_INSTANCES = 64;
const kept = new Map<string, WebAssembly.Instance>();
/** A call outside a process has nowhere to show trace lines; modules importing env.trace run in one (pool.ts). */
const NO_TRACE = (): void => {};

/**
 * Runs a call outside a WASI process and adds its outcome to `reply`; `metering` when it runs metered,
 * `conventions` the module's CONVENTION flags, `clock` when its trace is recorded (phase-clock.ts).
 */
export function runCall(
  reply: ReplyBuilder, module: WebAssembly.Module | undefined, memoryExport: string | null, shared: string | null,
  fn: string, args: WasmArg[], bridge: BridgeSignature | undefined, metering: Metering | undefined, conventions: number,
  clock: PhaseClock | undefined,
): void {
  const started = performance.now();
  let results: RawResult[];
  let pages: number;
  let instance: WebAssembly.Instance | undefined;
  try {
    // A fresh instance per call: nothing a call leaves in memory or globals reaches the next one.
    // A stateless module (no imports, so no host env) has nothing to leave: its kept instance.
    const env = (conventions & CONVENTION.hostEnv) !== 0 ? new HostEnv(NO_TRACE) : undefined;
    instance = shared === null ? new WebAssembly.Instance(carried(module), env?.imports ?? NO_IMPORTS) : keptInstance(shared, module);
    env?.bind(exportedMemory(instance, memoryExport));
    if (metering !== undefined) startMetered(instance, metering);
    initialize(instance, fn, conventions);
    results = normalise(callTimed(clock, instance, fn, args, bridge));
    pages = memoryPages(instance, memoryExport);
  } catch (err) {
    reply.fail(meteredFailure(reply, err, args, instance, metering), performance.now() - started);
    return;
  }
  if (metering !== undefined) reply.fuel(fuelOf(instance, metering).used);
  reply.ok(results, performance.now() - started, pages);
}

/** Whether this thread keeps an instance of stateless module `key` (its next call makes none). */
export function keeps(key: string): boolean {
  return kept.has(key);
}

/** The instance kept for stateless module `key`, made on its first call in this thread. */
function keptInstance(key: string, module: WebAssembly.Module | undefined): WebAssembly.Instance {
  let instance = kept.get(key);
  if (instance === undefined) {
    instance = new WebAssembly.Instance(carried(module), NO_IMPORTS);
    if (kept.size >= KEPT_INSTANCES) kept.delete(kept.keys().next().value as string);
    kept.set(key, instance);
  }
  return instance;
}

/**
 * Gives a fresh metered instance its fuel and runs its start function, which a metered module runs
 * when the host calls it rather than at instantiation, so that it runs on the call's fuel.
 */
export function startMetered(instance: WebAssembly.Instance, metering: Metering): void {
  setFuel(instance, BigInt(metering.fuel), metering.fuelExport);
  if (metering.startExport !== null) (instance.exports[metering.startExport] as () => void)();
}

/** The fuel a metered call used, and whether it ran out (then its trap was the meter's, not the guest's). */
export function fuelOf(instance: WebAssembly.Instance | undefined, metering: Metering): { used: number; exhausted: boolean } {
  if (instance === undefined) return { used: 0, exhausted: false };
  const left = fuelLeft(instance, metering.fuelExport);
  return { used: Number(fuelUsed(BigInt(metering.fuel), left)), exhausted: left < 0n };
}

/** The failure of a call that threw; for a metered call, its fuel goes to `reply` first, and running out is FUEL_EXHAUSTED. */
export function meteredFailure(reply: ReplyBuilder, err: unknown, args: WasmArg[], instance: WebAssembly.Instance | undefined, metering: Metering | undefined): Failure {
  if (metering === undefined) return failureFrom(err, args);
  const { used, exhausted } = fuelOf(instance, metering);
  reply.fuel(used);
  if (exhausted) return { code: 'FUEL_EXHAUSTED', message: `the call ran out of fuel: it was given ${metering.fuel}` };
  return failureFrom(err, args);
}

/**
 * The reactor convention (WASI's application ABI, Emscripten's --no-entry): a module exporting
 * `_initialize` wants it called once, before any other export; its C/C++ constructors run there.
 * Whether it exports one is known at compile (CONVENTION.initialize), not looked up per call.
 */
export function initialize(instance: WebAssembly.Instance, fn: string, conventions: number): void {
  if ((conventions & CONVENTION.initialize) === 0 || fn === '_start' || fn === '_initialize') return;
  const init = instance.exports['_initialize'];
  if (typeof init === 'function') (init as () => void)();
}

/** The module a call runs; throws when the bundle does not carry it (a bug on the main thread). */
export function carried(module: WebAssembly.Module | undefined): WebAssembly.Module {
  if (module === undefined) throw wessError('INTERNAL', 'bundle names a module it does not carry');
  return module;
}

/** Calls export `name` of `instance`; what it returns, as JS gives it. */
export function callExport(instance: WebAssembly.Instance, name: string, args: WasmArg[], bridge: BridgeSignature | undefined): unknown {
  const fn = instance.exports[name];
  if (typeof fn !== 'function') throw wessError('UNKNOWN_FUNCTION', `module exports no function ${JSON.stringify(name)}`);
  return bridge === undefined
    ? (fn as GuestFunction)(...(args as (number | bigint)[]))
    : callThroughBridge(fn as GuestFunction, bridge, args);
}

/** callExport, through `clock` (which marks the call's entry and return) when the call is traced. */
export function callTimed(clock: PhaseClock | undefined, instance: WebAssembly.Instance, name: string, args: WasmArg[], bridge: BridgeSignature | undefined): unknown {
  return clock === undefined ? callExport(instance, name, args, bridge) : clock.callExport(instance, name, args, bridge);
}

/** The instance's memory size in pages now, or NO_MEMORY; the export name comes from exposeMemory at compile. */
export function memoryPages(instance: WebAssembly.Instance, memoryExport: string | null): number {
  if (memoryExport === null) return NO_MEMORY;
  return (instance.exports[memoryExport] as WebAssembly.Memory).buffer.byteLength / PAGE_BYTES;
}

/** The instance's memory 0 through the export exposeMemory named at compile, or undefined without memory. */
export function exportedMemory(instance: WebAssembly.Instance, memoryExport: string | null): WebAssembly.Memory | undefined {
  return memoryExport === null ? undefined : (instance.exports[memoryExport] as WebAssembly.Memory);
}

/** JS hands back nothing, one value or (multi-value) an array; callers always get an array. */
export function normalise(raw: unknown): RawResult[] {
  const results: unknown[] = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  // A funcref or externref result cannot be cloned to the main thread; posting it would kill the worker.
  for (const value of results) {
    if (typeof value !== 'number' && typeof value !== 'bigint') {
      throw wessError('INVALID_ARGUMENT', 'the function returns a reference, which cannot be sent as a result');
    }
  }
  return results as RawResult[];
}
