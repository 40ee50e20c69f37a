import type { FileSystem } from './fs/filesystem.js';
import type { FsHandle } from './fs/rights.js';
import type { GuestMemory } from './memory.js';
import type { OutputSink } from './output.js';
import type { StringList } from './strings.js';

/** What a stdio fd refers to; fd_close and fd_renumber move and close them like any fd. */
export const Stream = { CLOSED: 0, STDIN: 1, STDOUT: 2, STDERR: 3 } as const;

/** One open fd: a stdio Stream, or a file or directory of the process's filesystem. */
export type FdEntry = number | FsHandle;

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
  /** The fd table: `fds[fd]`, undefined for a closed fd. Stdio starts at 0..2 and may be renumbered anywhere. */
  fds: (FdEntry | undefined)[];
  /** The preopened `/` and everything under it, or null for a process without files. */
  fs: FileSystem | null;
}

/** The entry behind `fd` (an i32 as the guest passed it), undefined when it is not open. */
export function entryOf(state: WasiState, fd: number): FdEntry | undefined {
  return state.fds[fd >>> 0];
}

/** The Stream behind `fd`: CLOSED for an fd that is not open or is not stdio. */
export function streamOf(state: WasiState, fd: number): number {
  const entry = state.fds[fd >>> 0];
  return typeof entry === 'number' ? entry : Stream.CLOSED;
}

/** The file or directory behind `fd`, undefined for stdio and closed fds. */
export function handleOf(state: WasiState, fd: number): FsHandle | undefined {
  const entry = state.fds[fd >>> 0];
  return typeof entry === 'object' ? entry : undefined;
}

/** Open fds a process may hold: each is a host object, so their count is bounded (EMFILE past it). */
export const MAX_FDS = 4096;

/** The lowest free fd from 3 up (stdio keeps 0..2 unless renumbered), or -1 when the table is full. */
export function freeFd(state: WasiState): number {
  const fds = state.fds;
  let fd = 3;
  while (fd < fds.length && fds[fd] !== undefined) fd++;
  return fd < MAX_FDS ? fd : -1;
}

/** Puts `entry` at `freeFd()`, which the caller has checked is not -1; returns the fd. */
export function installFd(state: WasiState, entry: FdEntry): number {
  const fd = freeFd(state);
  state.fds[fd] = entry;
  return fd;
}

/** A WASI function as the import object holds it: i32 params arrive as numbers, i64 as bigints. */
export type WasiFunction = (...args: never[]) => number | void;
export type WasiFunctions = Record<string, WasiFunction>;
