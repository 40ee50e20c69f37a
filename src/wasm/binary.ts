import { clip } from '../echo.js';
import { wessError } from '../errors.js';
import { ByteReader, encodeULeb128, malformed } from './byte-reader.js';
import { expectSectionEnd, readSections, sectionReader, SectionId, type Section } from './sections.js';
import type { FuncType, FunctionExport, ImportInfo, MemoryExport, MemoryInfo, ModuleInfo, TableInfo, ValType } from './types.js';

export { checkPolicy, effectiveMemory, moduleKind } from './policy.js';

const VAL_TYPES: Readonly<Record<number, ValType>> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
};

const IMPORT_KINDS: readonly ImportInfo['kind'][] = ['function', 'table', 'memory', 'global', 'tag'];

/** What the section walk collects before exports are resolved against the function index space. */
interface Collected {
  types: FuncType[];
  /** Type index of every function, imported ones first (the function index space). */
  funcTypes: number[];
  definedFuncs: number;
  codeEntries: number;
  dataCount: number | null;
  dataEntries: number;
  imports: ImportInfo[];
  memories: MemoryInfo[];
  tables: TableInfo[];
  exports: { name: string; index: number; offset: number }[];
  memoryExports: MemoryExport[];
  hasStart: boolean;
}

/** Reads exports with their signatures, imports and memory limits without compiling (code bodies are skipped). */
export function inspect(bytes: Uint8Array): ModuleInfo {
  const c: Collected = {
    types: [], funcTypes: [], definedFuncs: 0, codeEntries: 0, dataCount: null, dataEntries: 0,
    imports: [], memories: [], tables: [], exports: [], memoryExports: [], hasStart: false,
  };
  for (const section of readSections(bytes)) {
    const r = sectionReader(bytes, section);
    switch (section.id) {
      case SectionId.type: readTypes(r, c); break;
      case SectionId.import: readImports(r, c); break;
      case SectionId.function: readFunctions(r, c); break;
      case SectionId.memory: for (const m of readMemories(r)) c.memories.push(toMemoryInfo(m)); break;
      case SectionId.table: readTables(r, c); break;
      case SectionId.export: readExports(r, c); break;
      case SectionId.start: readStart(r, c); break;
      case SectionId.code: c.codeEntries = r.u32('code entry count'); r.pos = section.end; break;
      case SectionId.dataCount: c.dataCount = r.u32('data count'); break;
      case SectionId.data: c.dataEntries = r.u32('data segment count'); r.pos = section.end; break;
      default: r.pos = section.end; // custom, global, element, tag: not needed here
    }
    expectSectionEnd(r, section);
  }
  return finish(c, bytes.length);
}

function finish(c: Collected, size: number): ModuleInfo {
  if (c.definedFuncs !== c.codeEntries) {
    throw malformed(`function section declares ${c.definedFuncs} functions but code section has ${c.codeEntries} bodies`, size);
  }
  if (c.dataCount !== null && c.dataCount !== c.dataEntries) {
    throw malformed(`data count section says ${c.dataCount} segments but data section has ${c.dataEntries}`, size);
  }
  const exports: FunctionExport[] = c.exports.map(({ name, index, offset }) => {
    const type = c.types[c.funcTypes[index] ?? -1];
    if (type === undefined) throw malformed(`export "${name}" refers to unknown function ${index}`, offset);
    return { name, params: [...type.params], results: [...type.results] };
  });
  return { exports, imports: c.imports, memories: c.memories, tables: c.tables, hasStart: c.hasStart, memoryExports: c.memoryExports };
}

/** Reads a vector length, refusing one that cannot fit in the bytes left (every entry takes at least one byte). */
function count(r: ByteReader, what: string): number {
  const at = r.pos;
  const n = r.u32(`${what} count`);
  if (n > r.end - r.pos) throw malformed(`${what} count ${n} exceeds the section's remaining ${r.end - r.pos} bytes`, at);
  return n;
}

function valType(r: ByteReader): ValType {
  const at = r.pos;
  const byte = r.u8('value type');
  const type = VAL_TYPES[byte];
  if (type === undefined) throw malformed(`unknown value type 0x${byte.toString(16)}`, at);
  return type;
}

function readTypes(r: ByteReader, c: Collected): void {
  const n = count(r, 'type');
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const form = r.u8('type form');
    if (form !== 0x60) throw malformed(`type ${i}: unsupported type form 0x${form.toString(16)} (expected 0x60, func)`, at);
    const params = Array.from({ length: count(r, 'param') }, () => valType(r));
    const results = Array.from({ length: count(r, 'result') }, () => valType(r));
    c.types.push({ params, results });
  }
}

function typeIndex(r: ByteReader, c: Collected): number {
  const at = r.pos;
  const index = r.u32('type index');
  if (index >= c.types.length) throw malformed(`unknown type ${index} (module has ${c.types.length})`, at);
  return index;
}

function readImports(r: ByteReader, c: Collected): void {
  const n = count(r, 'import');
  for (let i = 0; i < n; i++) {
    const module = r.name('import module name');
    const name = r.name('import name');
    const at = r.pos;
    const kindByte = r.u8('import kind');
    const kind = IMPORT_KINDS[kindByte];
    if (kind === undefined) throw malformed(`import ${JSON.stringify(clip(`${module}.${name}`))}: unknown import kind 0x${kindByte.toString(16)}`, at);
    if (kind === 'function') {
      const index = typeIndex(r, c);
      c.funcTypes.push(index);
      const type = c.types[index] as FuncType;
      c.imports.push({ module, name, kind, type: { params: [...type.params], results: [...type.results] } });
      continue;
    }
    if (kind === 'table') { valType(r); readLimits(r, 'table'); }
    else if (kind === 'memory') readLimits(r, 'memory');
    else if (kind === 'global') { valType(r); mutability(r); }
    else { attribute(r); typeIndex(r, c); }
    c.imports.push({ module, name, kind });
  }
}

function mutability(r: ByteReader): void {
  const at = r.pos;
  const byte = r.u8('global mutability');
  if (byte > 1) throw malformed(`global mutability must be 0 or 1, got 0x${byte.toString(16)}`, at);
}

function attribute(r: ByteReader): void {
  const at = r.pos;
  if (r.u8('tag attribute') !== 0) throw malformed('tag attribute must be 0', at);
}

function readFunctions(r: ByteReader, c: Collected): void {
  const n = count(r, 'function');
  for (let i = 0; i < n; i++) c.funcTypes.push(typeIndex(r, c));
  c.definedFuncs = n;
}

function readExports(r: ByteReader, c: Collected): void {
  const n = count(r, 'export');
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const offset = r.pos;
    const name = r.name('export name');
    if (seen.has(name)) throw malformed(`duplicate export name "${name}"`, offset);
    seen.add(name);
    const at = r.pos;
    const kind = r.u8('export kind');
    if (kind > 4) throw malformed(`export "${name}": unknown export kind 0x${kind.toString(16)}`, at);
    const index = r.u32('export index');
    if (kind === 0) c.exports.push({ name, index, offset });
    else if (kind === 2) c.memoryExports.push({ name, index });
  }
}

function readStart(r: ByteReader, c: Collected): void {
  const at = r.pos;
  const index = r.u32('start function index');
  if (index >= c.funcTypes.length) throw malformed(`start function ${index} does not exist`, at);
  c.hasStart = true;
}

/*
 * Limits (memory and table types):
 *
 *   flags:u8  min:LEB  [max:LEB]    flags bit 0: max present, bit 1: shared, bit 2: 64-bit (LEBs are u64)
 */
interface Limits {
  flags: number;
  min: number;
  max: number | null;
}

function readLimits(r: ByteReader, what: string): Limits {
  const at = r.pos;
  const flags = r.u8(`${what} limits flags`);
  if (flags > 0x07) throw malformed(`${what} limits flags 0x${flags.toString(16)} are not in 0x00..0x07`, at);
  const read = (label: string): number => ((flags & 0x04) !== 0 ? r.u64(label) : r.u32(label));
  const min = read(`${what} minimum`);
  const max = (flags & 0x01) !== 0 ? read(`${what} maximum`) : null;
  return { flags, min, max };
}

function readMemories(r: ByteReader): Limits[] {
  return Array.from({ length: count(r, 'memory') }, () => readLimits(r, 'memory'));
}

/** Table types: reftype:u8 then limits (sizes in elements); V8 here has no tables with an initialiser (0x40). */
function readTables(r: ByteReader, c: Collected): void {
  const n = count(r, 'table');
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const type = valType(r);
    if (type !== 'funcref' && type !== 'externref') throw malformed(`table ${i}: element type ${type} is not a reference type`, at);
    const { min, max } = readLimits(r, 'table');
    c.tables.push({ min_elements: min, max_elements: max });
  }
}

function toMemoryInfo(m: Limits): MemoryInfo {
  return { min_pages: m.min, max_pages: m.max, shared: (m.flags & 0x02) !== 0, memory64: (m.flags & 0x04) !== 0 };
}

/**
 * Returns a copy whose memory section declares `maximum = min(declared, maxPages)` for every memory, or `bytes`
 * itself when there is no memory section or nothing to change. Other sections are copied byte for byte.
 * Imported memories are not rewritten (the policy refuses imports). Throws MEMORY_LIMIT when a memory's
 * minimum is already above `maxPages` (no maximum could be valid), INVALID_WASM when `bytes` is malformed.
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  if (!Number.isSafeInteger(maxPages) || maxPages < 0) throw new RangeError(`maxPages must be a non-negative integer, got ${maxPages}`);
  const section = readSections(bytes).find((s) => s.id === SectionId.memory);
  if (section === undefined) return bytes;
  const r = sectionReader(bytes, section);
  const memories = readMemories(r);
  expectSectionEnd(r, section);

  let changed = false;
  const content: number[] = encodeULeb128(memories.length);
  memories.forEach((m, index) => {
    if (m.min > maxPages) {
      throw wessError('MEMORY_LIMIT', `memory ${index} starts at ${m.min} pages, above the cap of ${maxPages} pages`, {
        requested_pages: m.min, allowed_pages: maxPages,
      });
    }
    const max = Math.min(m.max ?? Infinity, maxPages);
    if (max !== m.max) changed = true;
    content.push(m.flags | 0x01, ...encodeULeb128(m.min), ...encodeULeb128(max));
  });
  return changed ? replaceSection(bytes, section, content) : bytes;
}

/**
 * Returns a copy whose table section declares `maximum = min(declared, maxElements)` (never below a
 * table's minimum: admission refuses those), or `bytes` itself when nothing changes, so `table.grow`
 * fails past the cap instead of allocating. Imported tables are not rewritten (the policy refuses imports).
 */
export function capTables(bytes: Uint8Array, maxElements: number): Uint8Array {
  const section = readSections(bytes).find((s) => s.id === SectionId.table);
  if (section === undefined) return bytes;
  const r = sectionReader(bytes, section);
  const n = count(r, 'table');
  let changed = false;
  const content: number[] = encodeULeb128(n);
  for (let i = 0; i < n; i++) {
    const type = r.u8('table element type');
    const { flags, min, max } = readLimits(r, 'table');
    const capped = Math.max(min, Math.min(max ?? Infinity, maxElements));
    if (capped !== max) changed = true;
    content.push(type, flags | 0x01, ...encodeULeb128(min), ...encodeULeb128(capped));
  }
  expectSectionEnd(r, section);
  return changed ? replaceSection(bytes, section, content) : bytes;
}

function replaceSection(bytes: Uint8Array, section: Section, content: ArrayLike<number>): Uint8Array {
  return splice(bytes, section.headerStart, section.end, [section.id, ...encodeULeb128(content.length)], content);
}

/** A copy of `bytes` with `[start, end)` replaced by `header` followed by `content`. */
function splice(bytes: Uint8Array, start: number, end: number, header: number[], content: ArrayLike<number>): Uint8Array {
  const tail = bytes.subarray(end);
  const out = new Uint8Array(start + header.length + content.length + tail.length);
  out.set(bytes.subarray(0, start), 0);
  out.set(header, start);
  out.set(content, start + header.length);
  out.set(tail, start + header.length + content.length);
  return out;
}

/** The export name `exposeMemory` gives memory 0 (with a numeric suffix if a module already uses it). */
export const EXPOSED_MEMORY_NAME = '__wess_memory';

// Sections that must come after the export section; a new one goes before the first of them.
const AFTER_EXPORT: ReadonlySet<number> = new Set([SectionId.start, SectionId.element, SectionId.dataCount, SectionId.code, SectionId.data]);
const EXPORT_KIND_MEMORY = 0x02;

/**
 * Makes memory 0 reachable from outside so the runner can read its size after a call. When memory 0 is
 * already exported, returns `bytes` and that export's name; when the module has no memory, `bytes` and
 * null; otherwise a copy whose export section (added in section order if missing) ends with one more
 * export, `__wess_memory` → memory 0. Other exports keep their order. Throws INVALID_WASM when malformed.
 */
export function exposeMemory(bytes: Uint8Array): { bytes: Uint8Array; exportName: string | null } {
  const info = inspect(bytes);
  if (info.memories.length === 0 && !info.imports.some((i) => i.kind === 'memory')) return { bytes, exportName: null };
  const exported = info.memoryExports?.find((e) => e.index === 0);
  if (exported !== undefined) return { bytes, exportName: exported.name };

  const sections = readSections(bytes);
  const exportSection = sections.find((s) => s.id === SectionId.export);
  const taken = exportSection === undefined ? new Set<string>() : exportNames(bytes, exportSection);
  let name = EXPOSED_MEMORY_NAME;
  for (let i = 1; taken.has(name); i++) name = `${EXPOSED_MEMORY_NAME}_${i}`;
  // export entry: name (length-prefixed UTF-8), kind 0x02 (memory), memory index 0
  const entry = [...encodeULeb128(name.length), ...Array.from(name, (ch) => ch.charCodeAt(0)), EXPORT_KIND_MEMORY, 0x00];

  if (exportSection !== undefined) {
    const r = sectionReader(bytes, exportSection);
    const count = r.u32('export count');
    const head = encodeULeb128(count + 1);
    const content = new Uint8Array(head.length + (exportSection.end - r.pos) + entry.length);
    content.set(head, 0);
    content.set(bytes.subarray(r.pos, exportSection.end), head.length);
    content.set(entry, head.length + exportSection.end - r.pos);
    return { bytes: replaceSection(bytes, exportSection, content), exportName: name };
  }
  const content = [1, ...entry];
  const at = sections.find((s) => AFTER_EXPORT.has(s.id))?.headerStart ?? bytes.length;
  return { bytes: splice(bytes, at, at, [SectionId.export, ...encodeULeb128(content.length)], content), exportName: name };
}

/** The names of every export, whatever its kind. */
function exportNames(bytes: Uint8Array, section: Section): Set<string> {
  const r = sectionReader(bytes, section);
  const names = new Set<string>();
  for (let n = r.u32('export count'); n > 0; n--) {
    names.add(r.name('export name'));
    r.u8('export kind');
    r.u32('export index');
  }
  return names;
}

/** Where importMemory puts a module's memory: the module and name of its import. */
export const POOLED_MEMORY_MODULE = '__wess';
export const POOLED_MEMORY_NAME = 'memory';

/** The limits of a memory importMemory turned into an import: what the runner gives each instance. */
export interface PooledMemory {
  initial: number;
  maximum: number;
}

/**
 * Turns a module's one defined memory into an import (POOLED_MEMORY_MODULE.POOLED_MEMORY_NAME) with the
 * same limits, so the runner can give each fresh instance a memory of its own making: a new one, or one
 * zeroed after an earlier call (runner/memories.ts), which no guest can tell from the one V8 would have
 * made (size, maximum, contents but the data segments all zero). V8 reserves and maps every memory it
 * makes anew and unmaps it after a GC (measured: ~120 µs of kernel page-table work per instance, and
 * the mmap lock serialises the workers), against ~5 µs to zero 2 pages and reuse them.
 *
 * Returns null (the module stays as it is) when there is nothing to do or it is not this simple case: no
 * defined memory, more than one, a memory without a maximum (capMemory gives every one a maximum),
 * shared or 64-bit, an imported memory, or an import from POOLED_MEMORY_MODULE already. Imported
 * memories come before defined ones, so memory 0 stays memory 0; no other index changes. Throws
 * INVALID_WASM when malformed.
 */
export function importMemory(bytes: Uint8Array): { bytes: Uint8Array; memory: PooledMemory } | null {
  const sections = readSections(bytes);
  const memorySection = sections.find((s) => s.id === SectionId.memory);
  if (memorySection === undefined) return null;
  const r = sectionReader(bytes, memorySection);
  const memories = readMemories(r);
  expectSectionEnd(r, memorySection);
  const memory = memories[0];
  if (memories.length !== 1 || memory === undefined || memory.max === null || (memory.flags & 0x06) !== 0) return null;
  if (inspect(bytes).imports.some((i) => i.kind === 'memory' || i.module === POOLED_MEMORY_MODULE)) return null;

  const name = (text: string) => [...encodeULeb128(text.length), ...Array.from(text, (ch) => ch.charCodeAt(0))];
  // import entry: module name, field name, kind 0x02 (memory), limits with a maximum (flags 0x01)
  const entry = [...name(POOLED_MEMORY_MODULE), ...name(POOLED_MEMORY_NAME), EXPORT_KIND_MEMORY, 0x01, ...encodeULeb128(memory.min), ...encodeULeb128(memory.max)];
  // The memory section comes after the import section: cut it first, and the import section's offsets hold.
  const withoutMemory = splice(bytes, memorySection.headerStart, memorySection.end, [], []);
  const importSection = sections.find((s) => s.id === SectionId.import);
  let out: Uint8Array;
  if (importSection !== undefined) {
    const ir = sectionReader(withoutMemory, importSection);
    const head = encodeULeb128(ir.u32('import count') + 1);
    const content = new Uint8Array(head.length + (importSection.end - ir.pos) + entry.length);
    content.set(head, 0);
    content.set(withoutMemory.subarray(ir.pos, importSection.end), head.length);
    content.set(entry, head.length + importSection.end - ir.pos);
    out = replaceSection(withoutMemory, importSection, content);
  } else {
    // A new import section goes before the first section other than custom and type ones.
    const at = readSections(withoutMemory).find((s) => s.id !== SectionId.custom && s.id !== SectionId.type)?.headerStart ?? withoutMemory.length;
    const content = [1, ...entry];
    out = splice(withoutMemory, at, at, [SectionId.import, ...encodeULeb128(content.length)], content);
  }
  return { bytes: out, memory: { initial: memory.min, maximum: memory.max } };
}
