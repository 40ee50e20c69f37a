import { wessError } from '../errors.js';
import type { ModuleInfo } from './types.js';

const PAGE_BYTES = 65536;

export interface MemoryPolicy {
  /** Most 64 KiB pages a module's memory may start with or grow to. */
  maxMemoryPages: number;
}

const pages = (n: number): string => `${n} pages (${n * PAGE_BYTES} bytes)`;

/**
 * Refuses, before compiling, what Wess will not run: any import (none are provided), more than one memory,
 * shared or 64-bit memory, and an initial memory above the cap. Throws FORBIDDEN_IMPORT or MEMORY_LIMIT.
 */
export function checkPolicy(info: ModuleInfo, policy: MemoryPolicy): void {
  if (info.imports.length > 0) {
    const listed = info.imports.map((i) => `${i.kind} ${i.module}.${i.name}`);
    const shown = listed.length > 5 ? [...listed.slice(0, 5), `and ${listed.length - 5} more`] : listed;
    throw wessError('FORBIDDEN_IMPORT', `module imports ${shown.join(', ')}; Wess provides no imports`, {
      imports: info.imports.map((i) => ({ ...i })),
    });
  }
  if (info.memories.length > 1) {
    throw wessError('MEMORY_LIMIT', `module defines ${info.memories.length} memories; at most 1 is allowed`, {
      memories: info.memories.length, allowed: 1,
    });
  }
  const memory = info.memories[0];
  if (memory === undefined) return;
  if (memory.shared) {
    throw wessError('MEMORY_LIMIT', 'module asks for a shared memory (threads); only unshared memory is allowed', { shared: true });
  }
  if (memory.memory64) {
    throw wessError('MEMORY_LIMIT', 'module asks for a 64-bit memory (memory64); only 32-bit memory is allowed', { memory64: true });
  }
  if (memory.min_pages > policy.maxMemoryPages) {
    throw wessError(
      'MEMORY_LIMIT',
      `module asks for an initial memory of ${pages(memory.min_pages)}; at most ${pages(policy.maxMemoryPages)} is allowed`,
      {
        requested_pages: memory.min_pages, requested_bytes: memory.min_pages * PAGE_BYTES,
        allowed_pages: policy.maxMemoryPages, allowed_bytes: policy.maxMemoryPages * PAGE_BYTES,
      },
    );
  }
}

/** The memory a module actually gets once capped: `max_pages = min(declared ?? maxPages, maxPages)`; null without memory. */
export function effectiveMemory(info: ModuleInfo, maxPages: number): { min_pages: number; max_pages: number } | null {
  const memory = info.memories[0];
  if (memory === undefined) return null;
  return { min_pages: memory.min_pages, max_pages: Math.min(memory.max_pages ?? maxPages, maxPages) };
}
