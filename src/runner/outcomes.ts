import { StderrMirror } from '../wasi/index.js';
import type { Pending } from './bundle.js';
import type { CallOutcome } from './protocol.js';

/*
 * The answers the dispatcher gives a call itself, when no worker's reply carries one: the pool could
 * not run it, the worker died under it, or the watchdog stopped it at its deadline.
 */

/** The pool could not run the call (shut down, overloaded, its worker stopped too often). */
export function unavailable(message: string, call: Pending, now: number): CallOutcome {
  return { ok: false, error: { code: 'UNAVAILABLE', message }, durationMs: 0, cpuMs: 0, queuedMs: now - call.acceptedAt };
}

/** The call's worker failed under it for a reason that is Wess's, not the guest's. */
export function internal(message: string, call: Pending, now: number): CallOutcome {
  return { ok: false, error: { code: 'INTERNAL', message }, durationMs: 0, cpuMs: 0, queuedMs: now - call.acceptedAt };
}

/**
 * The answer of a call whose worker the watchdog terminated at its deadline, the call having started
 * at `startedAt`. The thread's CPU died with it: the call is charged the time it held the worker, its
 * most (see thread-cpu.ts). Its output died too, but for what it wrote on stderr into its mirror,
 * when it had one (a WASI call's), which is still readable from this thread.
 */
export function stoppedAtDeadline(call: Pending, startedAt: number, now: number): CallOutcome {
  const message = `call to ${JSON.stringify(call.fn)} did not finish within ${call.timeoutMs} ms; the guest was stopped`;
  const ranMs = Math.max(0, now - startedAt);
  const queuedMs = Math.max(0, startedAt - call.acceptedAt);
  const outcome: CallOutcome = { ok: false, error: { code: 'EXECUTION_TIMEOUT', message }, durationMs: ranMs, cpuMs: ranMs, queuedMs };
  const mirror = call.wasi?.stderrMirror;
  if (mirror !== undefined) {
    const stderr = StderrMirror.read(mirror);
    // exitCode 0: the process never exited; only stderr is read from a stopped call's output.
    outcome.wasi = { exitCode: 0, stdout: new Uint8Array(0), stderr: stderr.bytes, stdoutTruncated: false, stderrTruncated: stderr.truncated };
  }
  return outcome;
}
