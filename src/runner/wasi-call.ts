import { performance } from 'node:perf_hooks';
import { WasiProcess, type WasiInput, type WasiOutput } from '../wasi/index.js';
import type { RawResult, WasmArg } from '../wasm/types.js';
import { callTimed, carried, exportedMemory, fuelOf, initialize, memoryPages, meteredFailure, normalise, startMetered } from './guest.js';
import { POOLED_MEMORY_MODULE, POOLED_MEMORY_NAME, type PooledMemory } from '../wasm/binary.js';
import { HostEnv } from './host-env.js';
import type { PhaseClock } from './phase-clock.js';
import { giveBackMemory, takeMemory } from './memories.js';
import { CONVENTION, NO_MEMORY, type BridgeSignature, type Metering, type ReplyBuilder } from './protocol.js';
import { failureFrom } from './traps.js';

/*
 * A call in a WASI process, worker side. The process is in memory (src/wasi/): no files, sockets or
 * host environment, so it is as safe to re-run after a worker kill as a call without imports. The
 * deadline and the memory cap are the ones of any call: the watchdog sees no difference.
 */

/** What the worker knows about a WASI call. */
export interface CallSpec {
  module: WebAssembly.Module | undefined;
  memoryExport: string | null;
  /** Set when the module imports its memory (importMemory): the limits of the memory to give it. */
  pooledMemory: PooledMemory | null;
  fn: string;
  args: WasmArg[];
  bridge: BridgeSignature | undefined;
  /** Set when the call runs metered. */
  metering: Metering | undefined;
  /** The module's CONVENTION flags; with hostEnv, trace lines go to the process's stderr. */
  conventions: number;
}

/**
 * Runs a call in a fresh WASI process (`_start` of a command, or any export) and adds its outcome and
 * output to `reply`; `clock` when its trace is recorded (phase-clock.ts).
 */
export function runWasiCall(reply: ReplyBuilder, spec: CallSpec, input: WasiInput, clock: PhaseClock | undefined): void {
  const started = performance.now();
  let proc: WasiProcess;
  try {
    proc = new WasiProcess(input);
  } catch (err) {
    reply.fail(failureFrom(err, spec.args), performance.now() - started);
    return;
  }
  const pooled = spec.pooledMemory;
  const memory = pooled === null ? undefined : takeMemory(pooled);
  try {
    runIn(reply, spec, proc, started, memory, clock);
  } finally {
    // After the last read of the instance (its memory size, its fuel): the memory is zeroed here.
    if (memory !== undefined) giveBackMemory(pooled as PooledMemory, memory);
  }
}

/** The call itself, in `proc`; `memory` is the one to give an instance that imports its memory. */
function runIn(reply: ReplyBuilder, spec: CallSpec, proc: WasiProcess, started: number, memory: WebAssembly.Memory | undefined, clock: PhaseClock | undefined): void {
  let instance: WebAssembly.Instance | undefined;
  let ran: { value: unknown; output: WasiOutput };
  const env = (spec.conventions & CONVENTION.hostEnv) !== 0 ? new HostEnv((line) => proc.writeStderr(`${line}\n`)) : undefined;
  let imports = proc.imports();
  if (env !== undefined) imports = { ...imports, ...env.imports };
  if (memory !== undefined) imports = { ...imports, [POOLED_MEMORY_MODULE]: { [POOLED_MEMORY_NAME]: memory } };
  try {
    // The start section, if any, runs inside the process, so a proc_exit from it ends it normally.
    ran = proc.run(() => {
      instance = new WebAssembly.Instance(carried(spec.module), imports);
      const exported = exportedMemory(instance, spec.memoryExport);
      if (exported !== undefined) proc.bind(exported);
      env?.bind(exported);
      if (spec.metering !== undefined) startMetered(instance, spec.metering);
      initialize(instance, spec.fn, spec.conventions);
      return callTimed(clock, instance, spec.fn, spec.args, spec.bridge);
    });
  } catch (err) {
    // A trap: the client still gets what the program wrote before it.
    reply.wasi(proc.output());
    traced(reply, env);
    reply.fail(meteredFailure(reply, err, spec.args, instance, spec.metering), performance.now() - started);
    return;
  }
  reply.wasi(ran.output);
  traced(reply, env);
  if (spec.metering !== undefined) reply.fuel(fuelOf(instance, spec.metering).used);
  let results: RawResult[];
  try {
    // After proc_exit there is no return value: a command's answer is its exit code and output.
    results = normalise(ran.value);
  } catch (err) {
    reply.fail(failureFrom(err, spec.args), performance.now() - started);
    return;
  }
  const pages = instance === undefined ? NO_MEMORY : memoryPages(instance, spec.memoryExport);
  reply.ok(results, performance.now() - started, pages);
}

/** Sends the call's trace lines along for the log, when it traced. */
function traced(reply: ReplyBuilder, env: HostEnv | undefined): void {
  const log = env?.traceLog;
  if (log !== undefined) reply.trace(log);
}

