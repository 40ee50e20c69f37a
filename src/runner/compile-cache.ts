import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { hasErrorCode, wessError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { capMemory } from '../wasm/binary.js';

/**
 * Compiled modules by content hash, so a module version is compiled once per process: V8 compiles
 * lazily and the compiled Module is posted to workers, which then compile nothing. Concurrent compiles
 * of one hash share a single promise.
 */
export class CompileCache {
  private readonly modules: LRUCache<string, WebAssembly.Module>;
  private readonly pending = new Map<string, Promise<WebAssembly.Module>>();

  constructor(
    size: number,
    private readonly maxPages: number,
    private readonly metrics: Metrics,
  ) {
    this.modules = new LRUCache({ max: Math.max(1, size) });
  }

  /** The cached module for `sha256`, if any (counts as a use for the LRU). */
  get(sha256: string): WebAssembly.Module | undefined {
    return this.modules.get(sha256);
  }

  /** Caps memory, compiles and caches; `cached` is true when no compile was needed or awaited. */
  async compile(sha256: string, bytes: Uint8Array): Promise<{ module: WebAssembly.Module; cached: boolean }> {
    const hit = this.modules.get(sha256);
    if (hit !== undefined) return { module: hit, cached: true };
    let pending = this.pending.get(sha256);
    if (pending === undefined) {
      pending = this.compileFresh(bytes).finally(() => this.pending.delete(sha256));
      this.pending.set(sha256, pending);
    }
    const module = await pending;
    this.modules.set(sha256, module);
    return { module, cached: false };
  }

  /** The bytes V8 compiles for `bytes`: the memory section rewritten to the cap. */
  capped(bytes: Uint8Array): Uint8Array {
    return capMemory(bytes, this.maxPages);
  }

  private async compileFresh(bytes: Uint8Array): Promise<WebAssembly.Module> {
    const capped = await this.cappedOrV8Error(bytes);
    const started = performance.now();
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(capped);
    } catch (err) {
      throw invalidWasm(err);
    }
    this.metrics.compiles.inc();
    this.metrics.compileTime.observe((performance.now() - started) / 1000);
    return module;
  }

  /**
   * Our section reader runs first (capMemory). When it calls the bytes malformed, V8's own message is the
   * one clients should see, so V8 gets the last word; if V8 accepts what our reader refused, ours stands.
   */
  private async cappedOrV8Error(bytes: Uint8Array): Promise<Uint8Array> {
    try {
      return this.capped(bytes);
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
