import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';
import { WasiProcess } from '../../src/wasi/index.js';
import type { WasiOutput } from '../../src/wasi/types.js';

/** test/fixtures/wasi, found from the compiled dist/test/wasi/*.js (tests run from dist). */
export const WASI_FIXTURES_DIR = fileURLToPath(new URL('../../../test/fixtures/wasi/', import.meta.url));

/** Every program built from C by scripts/build-wasi-fixtures.sh. */
export const WASI_FIXTURES = [
  'hello', 'echo', 'exit', 'binary-out', 'noisy', 'spin', 'clock-random', 'fs-denied', 'lib', 'syscalls', 'files',
] as const;

export function wasiFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${WASI_FIXTURES_DIR}${name}.wasm`));
}

const compiled = new Map<string, WebAssembly.Module>();

/** The fixture compiled once per test file, as the runner compiles once per sha256. */
export function wasiModule(name: string): WebAssembly.Module {
  let module = compiled.get(name);
  if (module === undefined) {
    module = new WebAssembly.Module(wasiFixture(name));
    compiled.set(name, module);
  }
  return module;
}

export interface RunOptions {
  args?: string[];
  env?: [string, string][];
  stdin?: string | Uint8Array;
  maxOutputBytes?: number;
}

export interface RunResult extends WasiOutput {
  out: string;
  err: string;
}

const decoder = new TextDecoder();

/** Builds the process for a run: argv[0] is the program's name, as Wess passes the module's name. */
export function processFor(name: string, options: RunOptions = {}): WasiProcess {
  const stdin = typeof options.stdin === 'string' ? new TextEncoder().encode(options.stdin) : (options.stdin ?? new Uint8Array(0));
  return new WasiProcess({
    args: [name, ...(options.args ?? [])],
    env: options.env ?? [],
    stdin,
    maxOutputBytes: options.maxOutputBytes ?? 1024 * 1024,
  });
}

/** Runs a command module's `_start` through WasiProcess, the way the worker does (no pool). */
export function runProgram(name: string, options: RunOptions = {}, module = wasiModule(name)): RunResult {
  const proc = processFor(name, options);
  const instance = new WebAssembly.Instance(module, proc.imports());
  proc.bind(instance.exports.memory as WebAssembly.Memory);
  const { output } = proc.run(() => (instance.exports._start as () => void)());
  return { ...output, out: decoder.decode(output.stdout), err: decoder.decode(output.stderr) };
}

// wabt runs on wasm itself; load it once per file.
const wat = await wabt();

/** A module from WebAssembly text, for what the C fixtures cannot show (bad pointers, memory.grow). */
export function fromWat(text: string): Uint8Array {
  const parsed = wat.parseWat('test.wat', text, { multi_value: true, bulk_memory: true });
  try {
    return parsed.toBinary({}).buffer.slice();
  } finally {
    parsed.destroy();
  }
}
