import type { GuestMemory } from './memory.js';
import type { OutputSink } from './output.js';
import type { StringList } from './strings.js';

/** What an fd (0, 1 or 2; there are no others) refers to; fd_close and fd_renumber change it. */
export const Stream = { CLOSED: 0, STDIN: 1, STDOUT: 2, STDERR: 3 } as const;

/** Everything one WASI process owns, shared by the functions of each concern (fd.ts, clock.ts, ...). */
export interface WasiState {
  memory: GuestMemory;
  args: StringList;
  env: StringList;
  stdin: Uint8Array;
  /** How much of stdin fd_read has handed out. */
  stdinAt: number;
  stdout: OutputSink;
  stderr: OutputSink;
  /** `fds[fd]` is a Stream for fd 0..2. */
  fds: Uint8Array;
}

/** The Stream behind `fd` (an i32 as the guest passed it), CLOSED for any fd that is not 0..2. */
export function streamOf(state: WasiState, fd: number): number {
  return fd >>> 0 < 3 ? (state.fds[fd] ?? Stream.CLOSED) : Stream.CLOSED;
}

/** A WASI function as the import object holds it: i32 params arrive as numbers, i64 as bigints. */
export type WasiFunction = (...args: never[]) => number | void;
export type WasiFunctions = Record<string, WasiFunction>;
