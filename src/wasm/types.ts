/** Bytes in one WebAssembly memory page. */
export const PAGE_BYTES = 65536;

/** Value types as they appear in the binary format (v128 and references are parsed but never callable). */
export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';

/** The four types a call can pass over HTTP. */
export type NumType = 'i32' | 'i64' | 'f32' | 'f64';

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

/** An exported function with the signature read from the binary. */
export interface FunctionExport {
  name: string;
  params: ValType[];
  results: ValType[];
}

export interface ImportInfo {
  module: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  /** The signature of a function import (set by `inspect` for every function import). */
  type?: FuncType;
}

/** An export of a memory: its name and memory index. */
export interface MemoryExport {
  name: string;
  index: number;
}

export interface MemoryInfo {
  min_pages: number;
  /** Declared maximum, or null when the module declares none. */
  max_pages: number | null;
  shared: boolean;
  memory64: boolean;
}

export interface TableInfo {
  min_elements: number;
  /** Declared maximum, or null when the module declares none. */
  max_elements: number | null;
}

/** What the section reader learns from a module without compiling it. */
export interface ModuleInfo {
  exports: FunctionExport[];
  imports: ImportInfo[];
  /** Memories defined in the module (imported memories are listed in `imports`). */
  memories: MemoryInfo[];
  /** Tables defined in the module (set by `inspect`; imported ones are listed in `imports`). */
  tables?: TableInfo[];
  hasStart: boolean;
  /** Every memory export, in export order (set by `inspect`; WASI programs export theirs as "memory"). */
  memoryExports?: MemoryExport[];
}

/**
 * A call argument after JSON decoding, in a form that survives structured clone.
 * Floats that are NaN with a sign or payload that a JS number cannot carry into wasm
 * travel as their raw bits.
 */
export type WasmArg = number | bigint | { type: 'f32'; bits: number } | { type: 'f64'; bits: bigint };

/** A raw result as JS hands it back from wasm, before JSON encoding. */
export type RawResult = number | bigint;
