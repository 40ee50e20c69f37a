import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { hasErrorCode, wessError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { WASI_MODULE } from '../wasi/index.js';
import { capMemory, exposeMemory } from '../wasm/binary.js';

/** A compiled module and what its calls need to know about it, worked out once per compile. */
export interface Compiled {
  module: WebAssembly.Module;
  /** The export naming memory 0 (exposeMemory adds one when the module has none), or null without memory. */
  memoryExport: string | null;
  /** True when the module imports WASI: its calls need a WasiProcess even when the caller gave no input. */
  importsWasi: boolean;
}

/**
 * Compiled modules by content hash, so a module version is compiled once per process: V8 compiles
 * lazily and the compiled Module is posted to workers, which then compile nothing. Concurrent compiles
 * of one hash share a single promise.
 */
export class CompileCache {
  private readonly modules: LRUCache<string, Compiled>;
  private readonly pending = new Map<string, Promise<Compiled>>();

  constructor(
    size: number,
    private readonly maxPages: number,
    private readonly metrics: Metrics,
  ) {
    this.modules = new LRUCache({ max: Math.max(1, size) });
  }

  /** The cached module for `sha256`, if any (counts as a use for the LRU). */
  get(sha256: string): Compiled | undefined {
    return this.modules.get(sha256);
  }

  /** Caps memory, exposes it, compiles and caches; `cached` is true when no compile was needed or awaited. */
  async compile(sha256: string, bytes: Uint8Array): Promise<{ compiled: Compiled; cached: boolean }> {
    const hit = this.modules.get(sha256);
    if (hit !== undefined) return { compiled: hit, cached: true };
    let pending = this.pending.get(sha256);
    if (pending === undefined) {
      pending = this.compileFresh(bytes).finally(() => this.pending.delete(sha256));
      this.pending.set(sha256, pending);
    }
    const compiled = await pending;
    this.modules.set(sha256, compiled);
    return { compiled, cached: false };
  }

  /**
   * The bytes V8 compiles for `bytes` (trap offsets point into these): the memory section rewritten to
   * the cap, then memory 0 exported so a call's memory size can be read after it.
   */
  prepare(bytes: Uint8Array): { bytes: Uint8Array; exportName: string | null } {
    return exposeMemory(capMemory(bytes, this.maxPages));
  }

  private async compileFresh(bytes: Uint8Array): Promise<Compiled> {
    const prepared = await this.preparedOrV8Error(bytes);
    const started = performance.now();
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(prepared.bytes);
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
  private async preparedOrV8Error(bytes: Uint8Array): Promise<{ bytes: Uint8Array; exportName: string | null }> {
    try {
      return this.prepare(bytes);
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

function invalidWasm(err: unknown): Error {
  if (!(err instanceof WebAssembly.CompileError)) return err instanceof Error ? err : new Error(String(err));
  // "WebAssembly.compile(): " names our call site, not the problem with the module.
  return wessError('INVALID_WASM', err.message.replace(/^WebAssembly\.compile\(\): /, ''));
}
