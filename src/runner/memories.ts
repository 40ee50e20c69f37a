import { PAGE_BYTES } from '../wasm/types.js';
import type { PooledMemory } from '../wasm/binary.js';

/*
 * The memories of in-process modules (those importMemory rewrote), worker side. Every call still runs
 * on a fresh instance; only the memory under it may have served an earlier call of this thread, and
 * then it was zeroed right after that call and has exactly its declared size, so the new instance
 * cannot tell it from a memory V8 made for it: its data segments are written at instantiation, as
 * always, onto zeros. A memory that grew is dropped (a fresh one would be smaller), as is one whose
 * declared size is large enough that zeroing it costs more than a new mapping.
 */

/** Memories of at most this many bytes are kept for reuse (zeroing 1 MiB: ~20 µs; a new mapping: ~100 µs). */
const REUSED_MAX_BYTES = 1024 * 1024;
/** Free memories a thread keeps, one per distinct (initial, maximum); the oldest goes first. */
const KEPT = 16;

const free = new Map<string, WebAssembly.Memory>();

const keyOf = (limits: PooledMemory): string => `${limits.initial}/${limits.maximum}`;

/** A memory with `limits`, all zeros: one an earlier call gave back, or a new one. */
export function takeMemory(limits: PooledMemory): WebAssembly.Memory {
  const key = keyOf(limits);
  const kept = free.get(key);
  if (kept !== undefined) {
    free.delete(key);
    return kept;
  }
  return new WebAssembly.Memory({ initial: limits.initial, maximum: limits.maximum });
}

/**
 * Gives back the memory of a finished call (returned, trapped or exited: its instance is never called
 * again). Zeroed now, so nothing of the call outlives it, and kept when it still has its declared size.
 */
export function giveBackMemory(limits: PooledMemory, memory: WebAssembly.Memory): void {
  const bytes = limits.initial * PAGE_BYTES;
  if (bytes > REUSED_MAX_BYTES || memory.buffer.byteLength !== bytes) return;
  new Uint8Array(memory.buffer).fill(0);
  const key = keyOf(limits);
  if (!free.has(key) && free.size >= KEPT) free.delete(free.keys().next().value as string);
  free.set(key, memory);
}
