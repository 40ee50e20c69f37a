import { CONTROL, CONTROL_BYTES, IDLE } from './protocol.js';

/**
 * The call a bundle's worker is running now and for how long (ms), or undefined between calls. Reads
 * the control block the worker writes (layout in protocol.ts).
 */
export function runningCall(control: Int32Array, epoch: number, now: number): { index: number; ranMs: number } | undefined {
  const index = Atomics.load(control, CONTROL.index);
  if (index === IDLE) return undefined;
  const startedAt = Atomics.load(control, CONTROL.startedAt);
  // The worker may have moved to the next call between the two reads; look again next tick.
  if (Atomics.load(control, CONTROL.index) !== index) return undefined;
  return { index, ranMs: now - epoch - startedAt };
}

/** A control block for a bundle not yet started: no thread, no call running, call 0 next. */
export function newControl(): Int32Array {
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
  Atomics.store(control, CONTROL.index, IDLE);
  return control;
}

/**
 * A periodic check that runs only while there is something to watch: `arm()` starts it, and it stops
 * itself when `tick()` answers false. Unref'd so it never keeps the process alive on its own (a busy
 * worker's port does that).
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly tick: () => boolean,
  ) {}

  /** Starts ticking unless already running. */
  arm(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      if (!this.tick()) this.disarm();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops ticking. */
  disarm(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
