import { clip } from '../echo.js';
import { wessError } from '../errors.js';
import { formatSignature, wasiSignature } from '../wasi/signatures.js';
import { WASI_MODULE } from '../wasi/types.js';
import { HOST_ENV_MODULE, hostEnvSignature } from './host-env.js';
import { toolchainHint } from './toolchain-hints.js';
import { PAGE_BYTES, type FuncType, type ImportInfo, type ModuleInfo } from './types.js';


export interface MemoryPolicy {
  /** Most 64 KiB pages a module's memory may start with or grow to. */
  maxMemoryPages: number;
  /** Most elements a table may start with (every instance allocates them); no check when absent. */
  maxTableElements?: number;
}

/** Refused imports the details list (a module can import hundreds of thousands of things). */
const LISTED_IMPORTS = 20;

const pages = (n: number): string => `${n} pages (${n * PAGE_BYTES} bytes)`;

/** The export name a WASI program's memory must have: the shim reads and writes the program's memory through it. */
export const WASI_MEMORY_EXPORT = 'memory';

/** 'wasi' for a module that imports from wasi_snapshot_preview1 (a WASI program or reactor), else 'functions'. */
export function moduleKind(info: ModuleInfo): 'functions' | 'wasi' {
  return info.imports.some((i) => i.module === WASI_MODULE) ? 'wasi' : 'functions';
}

const sameTypes = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((t, i) => t === b[i]);
const sameSignature = (a: FuncType, b: FuncType): boolean => sameTypes(a.params, b.params) && sameTypes(a.results, b.results);

type Refusal = { text: string; details?: Record<string, string> };

/** Why Wess cannot provide `imp`, or null when the WASI shim or the host env (host-env.ts) provides it. */
function refusal(imp: ImportInfo): Refusal | null {
  // Names are the module author's: as long as they like, so quoted clipped.
  const what = `${imp.kind} ${clip(imp.module)}.${clip(imp.name)}`;
  if (imp.module === HOST_ENV_MODULE) return hostEnvRefusal(imp, what);
  if (imp.module !== WASI_MODULE) return { text: what };
  if (imp.kind !== 'function') return { text: `${what} (${WASI_MODULE} provides only functions)` };
  const expected = wasiSignature(imp.name);
  if (expected === undefined) return { text: `${what}, which is not a WASI preview 1 function` };
  return mismatch(imp, what, expected, 'WASI preview 1 defines it');
}

function hostEnvRefusal(imp: ImportInfo, what: string): Refusal | null {
  const expected = imp.kind === 'function' ? hostEnvSignature(imp.name) : undefined;
  if (expected === undefined) return { text: what };
  return mismatch(imp, what, expected, 'Wess provides it (as AssemblyScript declares it)');
}

/** Null when `imp` has the signature its provider gives it; else a refusal naming both signatures. */
function mismatch(imp: ImportInfo, what: string, expected: FuncType, provider: string): Refusal | null {
  if (imp.type !== undefined && sameSignature(imp.type, expected)) return null;
  const found = imp.type === undefined ? 'an unknown signature' : formatSignature(imp.type);
  return {
    text: `${what} with signature ${found}, but ${provider} as ${formatSignature(expected)}`,
    details: { expected: formatSignature(expected), found },
  };
}

/**
 * Refuses, before compiling, what Wess will not run: any import other than a wasi_snapshot_preview1
 * function with its preview-1 signature or an AssemblyScript env function with its signature, more than one memory, shared or 64-bit memory, an initial
 * memory above the cap, a table starting above its element limit, and a WASI module that does not
 * export its memory as "memory".
 * Throws FORBIDDEN_IMPORT or MEMORY_LIMIT.
 */
export function checkPolicy(info: ModuleInfo, policy: MemoryPolicy): void {
  const refused = info.imports.flatMap((imp) => {
    const why = refusal(imp);
    return why === null ? [] : [{ imp, why }];
  });
  if (refused.length > 0) {
    const listed = refused.map((r) => r.why.text);
    const shown = listed.length > 5 ? [...listed.slice(0, 5), `and ${listed.length - 5} more`] : listed;
    const hint = toolchainHint(refused.map((r) => r.imp), info.imports);
    throw wessError(
      'FORBIDDEN_IMPORT',
      `module imports ${shown.join(', ')}; Wess provides no imports other than ${WASI_MODULE} functions and AssemblyScript's env.abort, env.trace and env.seed${hint === null ? '' : `. It looks like it was ${hint.hint}`}`,
      {
        ...(hint ?? {}),
        imports: refused.slice(0, LISTED_IMPORTS).map(({ imp, why }) => ({ module: clip(imp.module), name: clip(imp.name), kind: imp.kind, ...why.details })),
        // Only when the list is cut: how many there were.
        ...(refused.length > LISTED_IMPORTS ? { refused: refused.length } : {}),
      },
    );
  }
  checkMemory(info, policy);
  checkTables(info, policy);
  if (moduleKind(info) === 'wasi') checkWasiMemory(info);
}

function checkTables(info: ModuleInfo, policy: MemoryPolicy): void {
  const limit = policy.maxTableElements;
  if (limit === undefined) return;
  (info.tables ?? []).forEach((table, index) => {
    if (table.min_elements <= limit) return;
    throw wessError('MEMORY_LIMIT', `table ${index} starts with ${table.min_elements} elements; at most ${limit} are allowed`, {
      table: index, requested_elements: table.min_elements, allowed_elements: limit,
    });
  });
}

function checkMemory(info: ModuleInfo, policy: MemoryPolicy): void {
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

function checkWasiMemory(info: ModuleInfo): void {
  if (info.memoryExports?.some((e) => e.name === WASI_MEMORY_EXPORT && e.index === 0) === true) return;
  const has = info.memories.length === 0 ? 'defines no memory' : `does not export its memory as "${WASI_MEMORY_EXPORT}"`;
  throw wessError(
    'MEMORY_LIMIT',
    `module imports ${WASI_MODULE} functions but ${has}; WASI needs the program's memory exported as "${WASI_MEMORY_EXPORT}"`,
    { required_memory_export: WASI_MEMORY_EXPORT },
  );
}

/** The memory a module actually gets once capped: `max_pages = min(declared ?? maxPages, maxPages)`; null without memory. */
export function effectiveMemory(info: ModuleInfo, maxPages: number): { min_pages: number; max_pages: number } | null {
  const memory = info.memories[0];
  if (memory === undefined) return null;
  return { min_pages: memory.min_pages, max_pages: Math.min(memory.max_pages ?? maxPages, maxPages) };
}
