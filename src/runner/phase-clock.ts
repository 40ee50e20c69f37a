import { performance } from 'node:perf_hooks';
import type { WasmArg } from '../wasm/types.js';
import { callExport } from './guest.js';
import type { BridgeSignature, Phases } from './protocol.js';

/*
 * The phase marks of one traced call, worker side. Made only for a call whose task asks for its
 * phases (BundleTask.phases): an untraced call makes no clock, takes no mark and adds nothing to the
 * reply (one more per-call value in every reply cost ~4% of calls/s, see protocol.ts); the code it
 * runs through only tests a local for undefined.
 */

/** Marks a traced call's run and its export's call, in this thread's performance.now(). */
export class PhaseClock {
  readonly #start = performance.now();
  readonly #reused: boolean;
  #called = Number.NaN;
  #returned = Number.NaN;

  /** Started as the worker takes the call up; `reused` when it will run on its worker's kept instance (no instantiation). */
  constructor(reused: boolean) {
    this.#reused = reused;
  }

  /** callExport, marking its entry and its return or throw. */
  callExport(instance: WebAssembly.Instance, name: string, args: WasmArg[], bridge: BridgeSignature | undefined): unknown {
    this.#called = performance.now();
    try {
      return callExport(instance, name, args, bridge);
    } finally {
      this.#returned = performance.now();
    }
  }

  /** The phases once the worker is done with the call, as epoch ms (this thread's timeOrigin is not the main thread's). */
  phases(): Phases {
    const end = performance.now();
    const origin = performance.timeOrigin;
    const call = Number.isNaN(this.#called) ? null : { start: origin + this.#called, end: origin + this.#returned };
    return { run: { start: origin + this.#start, end: origin + end }, instantiated: !this.#reused, call };
  }
}
