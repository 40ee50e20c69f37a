import { openSync, readSync } from 'node:fs';

/*
 * CPU time of the calling thread, for a call's receipt and its tenant's CPU budget. Node 20 has no
 * per-thread CPU clock (process.cpuUsage() counts every thread), so a worker reads its own line of
 * /proc/thread-self/schedstat (Linux): nanoseconds on CPU, first field. A read through a kept
 * descriptor is a syscall of a few µs, more than a small call's whole run, so it is made only when
 * its figure can change a receipt (see CallCpu).
 *
 * The kernel adds to that figure at scheduler ticks and context switches, not continuously: around a
 * 5 µs call it moves by 0 or by a whole tick. Thread CPU can be no more than wall time, and no more
 * than the kernel's figure plus the tick it may not have added yet, so a call is charged the smaller
 * of the two: its wall time for a short call, the kernel's figure (to a tick) for a long one that
 * shared its core with other threads.
 */

/** The longest a kernel tick can be (CONFIG_HZ = 100 is the lowest Linux builds with). */
export const TICK_MS = 10;
const BUFFER = Buffer.alloc(64);

/** This thread's CPU time so far in ms, from /proc; NaN where /proc/thread-self/schedstat is not available. */
export function threadCpuReader(): () => number {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return () => Number.NaN;
  }
  return () => {
    const n = readSync(fd, BUFFER, 0, BUFFER.length, 0);
    let ns = 0;
    for (let i = 0; i < n; i++) {
      const digit = (BUFFER[i] as number) - 48;
      if (digit < 0 || digit > 9) break;
      ns = ns * 10 + digit;
    }
    return ns / 1e6;
  };
}

/**
 * Charges the calls of one bundle (one tenant's, run one after another on this thread) their CPU.
 * A call shorter than a tick is charged its wall time whatever the kernel says (the kernel's figure
 * plus a tick is more), so it needs no reading. A longer one is charged the kernel's figure since the
 * last reading, less what the short calls in between were charged, plus a tick, at most its wall time.
 * The bundle's charges add up to the kernel's figure for it (to a tick), with one reading per bundle
 * and one per long call instead of two per call.
 */
export class CallCpu {
  private last: number;
  /** Charged to short calls since `last` was read. */
  private chargedSince = 0;

  constructor(private readonly read: () => number) {
    this.last = read();
  }

  /** The CPU (ms) to charge a call that just ran for `wallMs`. */
  charge(wallMs: number): number {
    if (wallMs < TICK_MS || Number.isNaN(this.last)) {
      this.chargedSince += wallMs;
      return wallMs;
    }
    const now = this.read();
    const used = now - this.last - this.chargedSince;
    this.last = now;
    this.chargedSince = 0;
    return Math.min(wallMs, Math.max(0, used) + TICK_MS);
  }
}
