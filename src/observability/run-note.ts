import type { Receipt } from '../runner/pool.js';
import { nowMs } from '../tracing/clock.js';

/**
 * What a route that runs guest code notes on its request (request.run) for what reads a finished run
 * after the answer: the invocation log and the trace. Set once the module is known, so a call refused
 * after that (an unknown export, bad arguments) is noted too; the receipts arrive with the answer.
 */
export interface RunNote {
  module: string;
  tenant: string;
  version: number;
  /** The export called; null until one is picked (a refused call may never get one). */
  fn: string | null;
  /** The HTTP handler route path, for a call made through one. */
  route: string | null;
  /** The call's arguments (a batch: its tuples; a handler: its request body), for the log's digest. */
  args: unknown;
  compileCached: boolean | undefined;
  /** One per call that ran: a run has one, a batch one per item. */
  receipts: readonly Receipt[];
  /** Wasm memory pages at the end of a single call, when it ran. */
  memoryPages: number | null | undefined;
  /** A WASI program's stderr: all of it until the answer is sent (its lines go to the log), then its start. */
  stderr: Uint8Array | undefined;
  /** When the runner answered (epoch ms, nowMs); 0 before it did. */
  answeredAt: number;
}

/** A note for a call of `target` about to run. */
export function runNote(target: { id: string; tenant: string; version: number }, fn: string | null, args: unknown, route: string | null = null): RunNote {
  return { module: target.id, tenant: target.tenant, version: target.version, fn, route, args, compileCached: undefined, receipts: [], memoryPages: undefined, stderr: undefined, answeredAt: 0 };
}

/** Bytes of stderr a note keeps. */
export const NOTED_STDERR_BYTES = 4096;

/** Fills in what the runner answered. */
export function noteAnswer(note: RunNote, receipts: readonly Receipt[], compileCached: boolean | undefined, stderr?: Uint8Array, memoryPages?: number | null): void {
  note.receipts = receipts;
  note.compileCached = compileCached;
  note.answeredAt = nowMs();
  if (stderr !== undefined && stderr.length > 0) note.stderr = stderr;
  if (memoryPages !== undefined) note.memoryPages = memoryPages;
}

/** A call's receipts summed: a batch's items ran one after another, so their durations add up; its wait is the longest. */
export function totalsOf(receipts: readonly Receipt[]): { durationMs: number; cpuMs: number; queuedMs: number; fuelUsed: number | undefined } {
  let durationMs = 0, cpuMs = 0, queuedMs = 0, fuelUsed: number | undefined;
  for (const r of receipts) {
    durationMs += r.durationMs;
    cpuMs += r.cpuMs;
    queuedMs = Math.max(queuedMs, r.queuedMs);
    if (r.fuelUsed !== undefined) fuelUsed = (fuelUsed ?? 0) + r.fuelUsed;
  }
  return { durationMs, cpuMs, queuedMs, fuelUsed };
}
