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
  stdin: Uint8Array;
  /** Bytes kept of stdout and of stderr each; the rest is dropped and flagged as truncated. */
  maxOutputBytes: number;
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
