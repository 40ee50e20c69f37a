import type { FuncType } from './types.js';

/*
 * The `env` imports Wess provides besides WASI: the three host functions AssemblyScript's compiler
 * emits (`asc` imports env.abort by default, env.trace and env.seed when the code uses trace() or
 * Math.random). Only these names with exactly these signatures are admitted; anything else under
 * `env` is refused like any unknown import. The worker's implementation is runner/host-env.ts.
 */

/** The import module name AssemblyScript (and C toolchains) put host functions under. */
export const HOST_ENV_MODULE = 'env';

const I = 'i32' as const;
const F = 'f64' as const;

/** The signature of each `env` function Wess provides, by name. */
export const HOST_ENV_SIGNATURES: Readonly<Record<string, FuncType>> = Object.freeze({
  /** abort(message: string, fileName: string, line: u32, column: u32): message and file are AssemblyScript string pointers. */
  abort: { params: [I, I, I, I], results: [] },
  /** trace(message: string, n: i32, a0..a4: f64): a message and the first n of five numbers. */
  trace: { params: [I, I, F, F, F, F, F], results: [] },
  /** seed(): f64, the seed of AssemblyScript's Math.random. */
  seed: { params: [], results: [F] },
});

/** The signature of an `env` function Wess provides, or undefined (inherited keys never match). */
export function hostEnvSignature(name: string): FuncType | undefined {
  return Object.hasOwn(HOST_ENV_SIGNATURES, name) ? HOST_ENV_SIGNATURES[name] : undefined;
}
