import type { GuestMemory } from './memory.js';
import { Errno } from './errno.js';
import type { WasiFunctions } from './state.js';

const encoder = new TextEncoder();

/*
 * argv and environ as the guest receives them: one buffer of NUL-terminated UTF-8 strings, and where
 * each starts. args_get/environ_get copy the buffer and write one pointer per string:
 *
 *   ptrs:  [buf+0, buf+4, ...]      buf: "a.out\0--flag\0"
 */
export interface StringList {
  count: number;
  bytes: Uint8Array;
  offsets: Uint32Array;
}

/**
 * Encodes strings once per process, so the guest's calls only copy. One encode of them all joined by
 * NUL (none holds one: stringsProblem refuses them), not one per string: a handler's environment has
 * a few dozen, and each encode is a call into C++ and an allocation.
 */
export function stringList(items: readonly string[]): StringList {
  const offsets = new Uint32Array(items.length);
  if (items.length === 0) return { count: 0, bytes: new Uint8Array(0), offsets };
  const bytes = encoder.encode(`${items.join('\0')}\0`);
  let at = 0;
  for (let i = 0; i < items.length; i++) {
    offsets[i] = at;
    at = bytes.indexOf(0, at) + 1; // each string ends at its terminator
  }
  return { count: items.length, bytes, offsets };
}

/** Why argv or env cannot be passed to a C program (a NUL would cut a string short), or null when they can. */
export function stringsProblem(args: readonly string[], env: readonly (readonly [string, string])[]): string | null {
  const arg = args.findIndex((a) => a.includes('\0'));
  if (arg >= 0) return `args[${arg}] contains a NUL character`;
  for (const [name, value] of env) {
    if (name === '' || name.includes('=') || name.includes('\0')) {
      return `environment variable name ${JSON.stringify(name)} must be non-empty and contain neither "=" nor NUL`;
    }
    if (value.includes('\0')) return `environment variable ${JSON.stringify(name)} has a value containing NUL`;
  }
  return null;
}

/** `*_sizes_get(count_ptr, size_ptr)` and `*_get(ptrs_ptr, buf_ptr)` over one list. */
function listFunctions(memory: GuestMemory, list: StringList): { sizes: (a: number, b: number) => number; get: (a: number, b: number) => number } {
  return {
    sizes(countPtr, sizePtr) {
      memory.refresh();
      countPtr >>>= 0;
      sizePtr >>>= 0;
      if (!memory.fits(countPtr, 4) || !memory.fits(sizePtr, 4)) return Errno.FAULT;
      memory.setU32(countPtr, list.count);
      memory.setU32(sizePtr, list.bytes.length);
      return Errno.SUCCESS;
    },
    get(ptrsPtr, bufPtr) {
      memory.refresh();
      ptrsPtr >>>= 0;
      bufPtr >>>= 0;
      if (!memory.fits(ptrsPtr, list.count * 4) || !memory.fits(bufPtr, list.bytes.length)) return Errno.FAULT;
      for (let i = 0; i < list.count; i++) memory.setU32(ptrsPtr + i * 4, bufPtr + (list.offsets[i] ?? 0));
      memory.u8.set(list.bytes, bufPtr);
      return Errno.SUCCESS;
    },
  };
}

/** args_get, args_sizes_get, environ_get, environ_sizes_get. */
export function stringFunctions(memory: GuestMemory, args: StringList, env: StringList): WasiFunctions {
  const a = listFunctions(memory, args);
  const e = listFunctions(memory, env);
  return { args_get: a.get, args_sizes_get: a.sizes, environ_get: e.get, environ_sizes_get: e.sizes };
}
