import { randomFillSync } from 'node:crypto';
import { hrtime } from 'node:process';
import { Clock, Errno } from './errno.js';
import type { GuestMemory } from './memory.js';
import type { WasiFunctions } from './state.js';

/*
 * Clocks, randomness and sched_yield: the only host facilities a WASI program gets. The realtime clock
 * is Date.now() (millisecond resolution); the monotonic clock is hrtime, and stands in for the process
 * and thread CPU-time clocks too (a guest runs on one thread, start to end).
 */

const REALTIME_RESOLUTION_NS = 1_000_000;
const MONOTONIC_RESOLUTION_NS = 1;

/** True for the four preview-1 clock ids. */
export function isClock(id: number): boolean {
  return id >>> 0 <= Clock.THREAD_CPUTIME;
}

/** The time on clock `id` in nanoseconds (`id` must pass `isClock`). */
export function now(id: number): bigint {
  return id === Clock.REALTIME ? BigInt(Date.now()) * 1_000_000n : hrtime.bigint();
}

// Atomics.wait on a cell nobody notifies is a plain blocking sleep, allowed on worker threads and on
// Node's main thread alike, and ended early by Worker.terminate().
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ns` nanoseconds (to within the host's timer resolution). */
export function sleep(ns: bigint): void {
  Atomics.wait(sleeper, 0, 0, Number(ns) / 1e6);
}

/** clock_res_get, clock_time_get, random_get, sched_yield. */
export function clockFunctions(memory: GuestMemory): WasiFunctions {
  return {
    clock_res_get(id: number, ptr: number): number {
      if (!isClock(id)) return Errno.INVAL;
      memory.refresh();
      ptr >>>= 0;
      if (!memory.fits(ptr, 8)) return Errno.FAULT;
      memory.setU64(ptr, id === Clock.REALTIME ? REALTIME_RESOLUTION_NS : MONOTONIC_RESOLUTION_NS);
      return Errno.SUCCESS;
    },

    clock_time_get(id: number, _precision: bigint, ptr: number): number {
      if (!isClock(id)) return Errno.INVAL;
      memory.refresh();
      ptr >>>= 0;
      if (!memory.fits(ptr, 8)) return Errno.FAULT;
      memory.setBigU64(ptr, now(id));
      return Errno.SUCCESS;
    },

    random_get(ptr: number, len: number): number {
      memory.refresh();
      ptr >>>= 0;
      len >>>= 0;
      if (!memory.fits(ptr, len)) return Errno.FAULT;
      randomFillSync(memory.u8, ptr, len);
      return Errno.SUCCESS;
    },

    // One guest per thread at a time: there is nothing to yield to.
    sched_yield: (): number => Errno.SUCCESS,
  };
}
