import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { hasErrorCode, wessError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { WASI_MODULE } from '../wasi/index.js';
import { capMemory, capTables, exposeMemory, importMemory, inspect, type PooledMemory } from '../wasm/binary.js';
import { HOST_ENV_MODULE } from '../wasm/host-env.js';
import { meter, METERING_VERSION, type Metered } from '../wasm/metering.js';
import { readSections, SectionId, type Section } from '../wasm/sections.js';
import { CONVENTION, type MeteringExports } from './protocol.js';
import { holdsNoState } from '../wasm/state.js';

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

/** Which compile of a module a call needs: its memory cap, and whether it is metered (the call has fuel). */
export interface Variant {
  maxPages: number;
  metered: boolean;
}

/** A compiled module and what its calls need to know about it, worked out once per compile. */
export interface Compiled {
  module: WebAssembly.Module;
  /** The export naming memory 0 (exposeMemory adds one when the module has none), or null without memory. */
  memoryExport: string | null;
  /**
   * True when its calls run in a WasiProcess though the caller gave no input: it imports WASI, or
   * env.trace, whose lines go to the process's stderr and so into the answer.
   */
  inProcess: boolean;
  /** The CONVENTION flags its calls honour: AssemblyScript's env imports, a reactor's `_initialize`. */
  conventions: number;
  /** Set for a metered variant: a call sets its fuel and runs its start function itself. */
  metering: MeteringExports | null;
  /**
   * For an in-process module whose memory importMemory made an import: its limits, for the worker to
   * give each instance a memory (runner/memories.ts); null when the module makes its own.
   */
  pooledMemory: PooledMemory | null;
  /**
   * For a module whose instances hold no state (wasm/state.ts): the key under which a worker keeps one
   * instance for all its calls; null when every call needs an instance of its own.
   */
  sharedInstance: string | null;
}

/** Metered bytes kept per content hash, so each memory cap of a metered module meters it once. */
const METERED_KEPT = 32;

/**
 * Compiled modules by content hash and variant, so a module version is compiled once per process for
 * each memory cap its callers run it under (a tier's max_memory is the module's enforced maximum for
 * its calls), metered or not: V8 compiles lazily and the compiled Module is posted to workers, which
 * then compile nothing. Concurrent compiles of one key share a single promise.
 */
export class CompileCache {
  /**
   * By content hash, then by variant (variantKey): a hit looks up the hash string the module record
   * holds (its hash is cached by V8) and a small number, not a string built per call.
   */
  private readonly modules: LRUCache<string, Map<number, Compiled>>;
  private readonly pending = new Map<string, Promise<Compiled>>();
  private readonly metered = new LRUCache<string, Metered>({ max: METERED_KEPT });

  constructor(
    size: number,
    /** limits.max_table_elements: the most any table may grow to. */
    private readonly maxTableElements: number,
    private readonly metrics: Metrics,
  ) {
    this.modules = new LRUCache({ max: Math.max(1, size) });
  }

  /** The cached compile of `sha256` for `variant`, if any (counts as a use for the LRU). */
  get(sha256: string, variant: Variant): Compiled | undefined {
    return this.modules.get(sha256)?.get(variantKey(variant));
  }

  /** Meters if asked, caps memory and tables, exposes memory, compiles and caches; `cached` is true when no compile was needed or awaited. */
  async compile(sha256: string, bytes: Uint8Array, variant: Variant): Promise<{ compiled: Compiled; cached: boolean }> {
    const hit = this.get(sha256, variant);
    if (hit !== undefined) return { compiled: hit, cached: true };
    const variantId = variantKey(variant);
    // A compile under way is keyed the same way as the cache: hash, then variant.
    const key = `${sha256}/${variantId}`;
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = this.compileFresh(sha256, bytes, variant).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    const compiled = await pending;
    let variants = this.modules.get(sha256);
    if (variants === undefined) this.modules.set(sha256, (variants = new Map()));
    variants.set(variantId, compiled);
    return { compiled, cached: false };
  }

  /**
   * The bytes V8 compiles for `bytes` in a variant (trap offsets point into these): metered when asked,
   * the memory and table sections rewritten to their caps, then memory 0 exported so a call's memory
   * size can be read after it.
   */
  prepare(sha256: string, bytes: Uint8Array, variant: Variant): { bytes: Uint8Array; exportName: string | null; metering: MeteringExports | null; pooledMemory: PooledMemory | null } {
    const metered = variant.metered ? this.meter(sha256, bytes) : undefined;
    const source = metered?.bytes ?? bytes;
    const capped = capTables(capMemory(source, variant.maxPages), this.maxTableElements);
    // Only in-process modules: their calls all go through runWasiCall, which supplies the memory.
    const pooled = inProcessImports(inspect(capped).imports) ? importMemory(capped) : null;
    const { bytes: out, exportName } = exposeMemory(pooled?.bytes ?? capped);
    const metering = metered === undefined ? null : { fuelExport: metered.fuelExport, startExport: metered.startExport };
    return { bytes: out, exportName, metering, pooledMemory: pooled?.memory ?? null };
  }

  private meter(sha256: string, bytes: Uint8Array): Metered {
    let metered = this.metered.get(sha256);
    if (metered === undefined) {
      metered = meter(bytes);
      this.metered.set(sha256, metered);
    }
    return metered;
  }

  private async compileFresh(sha256: string, bytes: Uint8Array, variant: Variant): Promise<Compiled> {
    const prepared = await this.preparedOrV8Error(sha256, bytes, variant);
    const sections = readSections(prepared.bytes);
    const started = performance.now();
    let module: WebAssembly.Module;
    try {
      module = compiledSize(sections) <= SYNC_COMPILE_BYTES ? new WebAssembly.Module(prepared.bytes) : await WebAssembly.compile(prepared.bytes);
    } catch (err) {
      throw invalidWasm(err);
    }
    this.metrics.compiles.inc();
    this.metrics.compileTime.observe((performance.now() - started) / 1000);
    const imports = WebAssembly.Module.imports(module);
    const inProcess = inProcessImports(imports);
    const conventions = (imports.some((i) => i.module === HOST_ENV_MODULE) ? CONVENTION.hostEnv : 0)
      | (WebAssembly.Module.exports(module).some((e) => e.name === '_initialize' && e.kind === 'function') ? CONVENTION.initialize : 0);
    const sharedInstance = holdsNoState(prepared.bytes, sections) ? `${sha256}/${variantKey(variant)}` : null;
    return { module, memoryExport: prepared.exportName, inProcess, conventions, metering: prepared.metering, sharedInstance, pooledMemory: prepared.pooledMemory };
  }

  /**
   * Our section reader runs first (capMemory, exposeMemory). When it calls the bytes malformed, V8's own
   * message is the one clients should see, so V8 gets the last word; if V8 accepts what our reader
   * refused, ours stands.
   */
  private async preparedOrV8Error(sha256: string, bytes: Uint8Array, variant: Variant): Promise<ReturnType<CompileCache['prepare']>> {
    try {
      return this.prepare(sha256, bytes, variant);
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

/** True for a module whose calls run in a WasiProcess (Compiled.inProcess): it imports WASI, or env.trace. */
function inProcessImports(imports: ReadonlyArray<{ module: string; name: string }>): boolean {
  return imports.some((i) => i.module === WASI_MODULE || (i.module === HOST_ENV_MODULE && i.name === 'trace'));
}

/** A variant as one number: the cap in pages (at most 65,536) and the metering version. */
function variantKey(variant: Variant): number {
  return variant.maxPages * 1024 + (variant.metered ? METERING_VERSION : 0);
}

/** Bytes V8 decodes and validates: everything but custom sections (which it skips). */
function compiledSize(sections: readonly Section[]): number {
  let size = 0;
  for (const section of sections) if (section.id !== SectionId.custom) size += section.end - section.start;
  return size;
}

function invalidWasm(err: unknown): Error {
  if (!(err instanceof WebAssembly.CompileError)) return err instanceof Error ? err : new Error(String(err));
  // "WebAssembly.compile(): " or "WebAssembly.Module(): " names our call site, not the problem with the module.
  return wessError('INVALID_WASM', err.message.replace(/^WebAssembly\.(compile|Module)\(\): /, ''));
}
