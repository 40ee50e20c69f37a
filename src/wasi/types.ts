/**
 * The contract between the WASI shim (src/wasi/) and the runner's worker: what a WASI run gets as
 * input and what it gives back. Everything here crosses the worker boundary, so it is clone-safe.
 */

/** The import module name every WASI preview-1 program uses. */
export const WASI_MODULE = 'wasi_snapshot_preview1';

export interface WasiInput {
  /** argv, including argv[0] (Wess passes the module's name). */
  args: string[];
  /** Environment as [name, value] pairs; nothing from the host leaks in. */
  env: [string, string][];
  /** Absent: empty (the runner leaves an empty stdin out of what it posts to a worker). */
  stdin?: Uint8Array;
  /** Bytes kept of stdout and of stderr each; the rest is dropped and flagged as truncated. */
  maxOutputBytes: number;
  /** The version's files, preopened as `/` (fd 3); absent for a version without files (nothing is preopened). */
  files?: WasiFiles;
  /** Bytes the process may write over its files (new and grown files, copies of changed ones); past it a write fails with ENOSPC. */
  maxScratchBytes?: number;
  /**
   * A shared buffer the process copies its stderr into as well (see StderrMirror), so that what a
   * guest wrote before its worker was stopped at the deadline outlives the worker. Absent: none.
   */
  stderrMirror?: SharedArrayBuffer;
}

/**
 * A version's files as a run gets them: the packed image (src/files/image.ts) and its sha256, which
 * lets a worker keep the parsed index between runs. On the way to a worker `image` is a view of a
 * SharedArrayBuffer, so posting it copies nothing; the process only ever reads it (writes go to a
 * per-run layer over it).
 */
export interface WasiFiles {
  sha256: string;
  image: Uint8Array;
}

export interface WasiOutput {
  /** The code given to proc_exit, or 0 when _start returned normally. */
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

/**
 * One WASI process in memory. Usage in the worker:
 *   const proc = new WasiProcess(input);
 *   const instance = new WebAssembly.Instance(module, proc.imports());
 *   proc.bind(instance.exports.memory as WebAssembly.Memory);
 *   const output = proc.run(() => (instance.exports._start as () => void)());  // catches proc_exit
 * or, for a plain function call on a module that imports WASI: proc.run(() => fn(...args)).
 */
export interface WasiProcessLike {
  imports(): WebAssembly.Imports;
  bind(memory: WebAssembly.Memory): void;
  run<T>(body: () => T): { value: T | undefined; output: WasiOutput };
}
