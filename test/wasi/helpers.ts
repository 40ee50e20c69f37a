import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';
import { EntryKind, packImage, type PackEntry } from '../../src/files/image.js';
import { WasiProcess } from '../../src/wasi/index.js';
import type { WasiFiles, WasiOutput } from '../../src/wasi/types.js';

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
  files?: WasiFiles;
  maxScratchBytes?: number;
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
    ...(options.files === undefined ? {} : { files: options.files }),
    ...(options.maxScratchBytes === undefined ? {} : { maxScratchBytes: options.maxScratchBytes }),
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

/** A files image as a run gets it: the packed entries and their sha256. */
export function filesOf(entries: readonly PackEntry[]): WasiFiles {
  const image = packImage(entries);
  return { sha256: createHash('sha256').update(image).digest('hex'), image };
}

/** Every entry under `dir` (directories, files and symlinks), as packImage takes them. */
export function packEntries(dir: string, under = ''): PackEntry[] {
  const entries: PackEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const at = join(dir, name);
    const path = under === '' ? name : `${under}/${name}`;
    const stat = lstatSync(at);
    if (stat.isDirectory()) {
      entries.push({ path, kind: EntryKind.DIR, mtimeMs: stat.mtimeMs }, ...packEntries(at, path));
    } else if (stat.isSymbolicLink()) {
      entries.push({ path, kind: EntryKind.SYMLINK, mtimeMs: stat.mtimeMs, target: readlinkSync(at) });
    } else {
      entries.push({ path, kind: EntryKind.FILE, mtimeMs: stat.mtimeMs, content: new Uint8Array(readFileSync(at)) });
    }
  }
  return entries;
}
