import { wessError } from '../errors.js';
import { wasiInputProblem, type WasiInput } from '../wasi/index.js';
import type { WasmArg } from '../wasm/types.js';

/*
 * What a caller hands the runner travels inside a bundle shared with other calls; one value that cannot
 * be cloned would fail the whole bundle, so caller bugs are caught here, before the call is queued.
 */

/** Throws INTERNAL unless every argument is one of the three shapes values.ts makes. */
export function checkArgs(args: WasmArg[]): void {
  for (const arg of args) {
    if (typeof arg === 'number' || typeof arg === 'bigint') continue;
    if (typeof arg === 'object' && arg !== null && (arg.type === 'f32' || arg.type === 'f64')) continue;
    throw wessError('INTERNAL', `call argument ${String(arg)} is not a wasm value`);
  }
}

/**
 * The input checked and ready to cross to a worker. Throws INTERNAL on a shape src/wasi/types.ts does
 * not allow (a caller bug), VALIDATION on args or env a C program cannot be given (before queuing).
 */
export function wasiInputForWorker(input: WasiInput): WasiInput {
  const ok =
    Array.isArray(input.args) && input.args.every((a) => typeof a === 'string') &&
    Array.isArray(input.env) && input.env.every((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string') &&
    (input.stdin === undefined || input.stdin instanceof Uint8Array) && typeof input.maxOutputBytes === 'number';
  if (!ok) throw wessError('INTERNAL', 'WASI input is not { args: string[], env: [string, string][], stdin?: Uint8Array, maxOutputBytes }');
  const problem = wasiInputProblem(input);
  if (problem !== null) throw wessError('VALIDATION', problem);
  // An empty stdin is left out: a typed array costs an ArrayBuffer on each side of the post (measured:
  // tens of µs of the main thread's per call), and most runs and GET handler requests have none.
  const { stdin } = input;
  if (stdin === undefined) return input;
  if (stdin.length === 0) {
    const { stdin: _empty, ...rest } = input;
    return rest;
  }
  // Cloning a view copies its whole ArrayBuffer: a Buffer from Node's pool (or a slice of a request
  // body) would take kilobytes of strangers' bytes along. Send only the bytes that are stdin.
  if (stdin.constructor === Uint8Array && stdin.byteOffset === 0 && stdin.byteLength === stdin.buffer.byteLength) return input;
  return { ...input, stdin: new Uint8Array(stdin) };
}
