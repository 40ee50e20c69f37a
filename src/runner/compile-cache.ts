import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { hasErrorCode, wessError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { WASI_MODULE } from '../wasi/index.js';
import { capMemory, capTables, exposeMemory } from '../wasm/binary.js';
import { readSections, SectionId } from '../wasm/sections.js';

/**
 * Modules with at most this many bytes outside custom sections are compiled synchronously.
 * Measured here (Node 20, lazy compilation): `new WebAssembly.Module` takes 0.04 ms for the upload
 * bench's 100 KiB module (9 bytes of code, the rest a custom section), 0.3 ms for 16 KiB and 0.6 ms
 * for 64 KiB of code, 4.7 ms for 1 MiB. `WebAssembly.compile` finishes through several trips
 * between V8's background threads and the event loop: under 32 concurrent 100 KiB uploads an
 * admission spent 27 ms (mean) waiting for it, longer than the durable write. Above the threshold
 * the event loop matters more than the wait, so large modules still compile in the background.
 */
const SYNC_COMPILE_BYTES = 64 * 1024;

/** A compiled module and what its calls need to know about it, worked out once per compile. */
export interface Compiled {
  module: WebAssembly.Module;
  /** The export naming memory 0 (exposeMemory adds one when the module has none), or null without memory. */
  memoryExport: string | null;
  /** True when the module imports WASI: its calls need a WasiProcess even when the caller gave no input. */
  importsWasi: boolean;
}

/**
 * Compiled modules by content hash and memory cap, so a module version is compiled once per process
 * for each cap its callers run it under (a tier's max_memory is the module's enforced maximum for its
 * calls): V8 compiles lazily and the compiled Module is posted to workers, which then compile nothing.
 * Concurrent compiles of one key share a single promise.
 */
export class CompileCache {
  private readonly modules: LRUCache<string, Compiled>;
  private readonly pending = new Map<string, Promise<Compiled>>();

  constructor(
    size: number,
    /** limits.max_table_elements: the most any table may grow to. */
    private readonly maxTableElements: number,
    private readonly metrics: Metrics,
  ) {
    this.modules = new LRUCache({ max: Math.max(1, size) });
  }

  /** The cached module for `sha256` under a cap of `maxPages`, if any (counts as a use for the LRU). */
  get(sha256: string, maxPages: number): Compiled | undefined {
    return this.modules.get(keyOf(sha256, maxPages));
  }

  /** Caps memory, exposes it, compiles and caches; `cached` is true when no compile was needed or awaited. */
  async compile(sha256: string, bytes: Uint8Array, maxPages: number): Promise<{ compiled: Compiled; cached: boolean }> {
    const key = keyOf(sha256, maxPages);
    const hit = this.modules.get(key);
    if (hit !== undefined) return { compiled: hit, cached: true };
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = this.compileFresh(bytes, maxPages).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    const compiled = await pending;
    this.modules.set(key, compiled);
    return { compiled, cached: false };
  }

  /**
   * The bytes V8 compiles for `bytes` under a cap (trap offsets point into these): the memory and table
   * sections rewritten to their caps, then memory 0 exported so a call's memory size can be read after it.
   */
  prepare(bytes: Uint8Array, maxPages: number): { bytes: Uint8Array; exportName: string | null } {
    return exposeMemory(capTables(capMemory(bytes, maxPages), this.maxTableElements));
  }

  private async compileFresh(bytes: Uint8Array, maxPages: number): Promise<Compiled> {
    const prepared = await this.preparedOrV8Error(bytes, maxPages);
    const started = performance.now();
    let module: WebAssembly.Module;
    try {
      module = compiledSize(prepared.bytes) <= SYNC_COMPILE_BYTES ? new WebAssembly.Module(prepared.bytes) : await WebAssembly.compile(prepared.bytes);
    } catch (err) {
      throw invalidWasm(err);
    }
    this.metrics.compiles.inc();
    this.metrics.compileTime.observe((performance.now() - started) / 1000);
    const importsWasi = WebAssembly.Module.imports(module).some((i) => i.module === WASI_MODULE);
    return { module, memoryExport: prepared.exportName, importsWasi };
  }

  /**
   * Our section reader runs first (capMemory, exposeMemory). When it calls the bytes malformed, V8's own
   * message is the one clients should see, so V8 gets the last word; if V8 accepts what our reader
   * refused, ours stands.
   */
  private async preparedOrV8Error(bytes: Uint8Array, maxPages: number): Promise<{ bytes: Uint8Array; exportName: string | null }> {
    try {
      return this.prepare(bytes, maxPages);
    } catch (err) {
      if (!hasErrorCode(err) || err.code !== 'INVALID_WASM') throw err;
      try {
        await WebAssembly.compile(bytes);
      } catch (v8Err) {
        throw invalidWasm(v8Err);
      }
      throw err;
    }
  }
}

function keyOf(sha256: string, maxPages: number): string {
  return `${sha256}/${maxPages}`;
}

/** Bytes V8 decodes and validates: everything but custom sections (which it skips). */
function compiledSize(bytes: Uint8Array): number {
  let size = 0;
  for (const section of readSections(bytes)) if (section.id !== SectionId.custom) size += section.end - section.start;
  return size;
}

function invalidWasm(err: unknown): Error {
  if (!(err instanceof WebAssembly.CompileError)) return err instanceof Error ? err : new Error(String(err));
  // "WebAssembly.compile(): " or "WebAssembly.Module(): " names our call site, not the problem with the module.
  return wessError('INVALID_WASM', err.message.replace(/^WebAssembly\.(compile|Module)\(\): /, ''));
}
