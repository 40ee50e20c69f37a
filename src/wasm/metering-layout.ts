import { type ByteReader, malformed } from './byte-reader.js';
import { Op, readInstruction, VALUE_TYPE_BYTES, type Instruction } from './instructions.js';
import { expectSectionEnd, readSections, sectionReader, SectionId, type Section } from './sections.js';

/*
 * What metering needs to know about a module before rewriting it, read strictly: every section it
 * rewrites (global, export, start) is parsed to its last byte, so appending to one can never turn
 * a malformed section into a well-formed one.
 */

export interface Layout {
  sections: Section[];
  /** Imported functions: defined function i has index importedFuncs + i. */
  importedFuncs: number;
  /** Imported plus defined globals: the fuel global gets this index. */
  globals: number;
  memory64: boolean[];
  table64: boolean[];
  global: { section: Section; count: number; entries: number } | null;
  export: { section: Section; count: number; entries: number; names: Set<string> } | null;
  /** The start function, when the module has one. */
  start: number | null;
  code: Section | null;
}

interface Reading extends Layout {
  /** Type index of each function, imported ones first (the function index space). */
  funcTypes: number[];
  types: Section | null;
}

/** Reads the layout of `bytes`; throws INVALID_WASM where what metering relies on is malformed. */
export function readLayout(bytes: Uint8Array): Layout {
  const m: Reading = {
    sections: readSections(bytes), importedFuncs: 0, globals: 0, memory64: [], table64: [], global: null, export: null,
    start: null, code: null, funcTypes: [], types: null,
  };
  for (const section of m.sections) {
    const r = sectionReader(bytes, section);
    switch (section.id) {
      case SectionId.type: m.types = section; r.pos = section.end; break;
      case SectionId.import: readImports(r, m); break;
      case SectionId.function: for (let n = r.u32('function count'); n > 0; n--) m.funcTypes.push(r.u32('type index')); break;
      case SectionId.table: for (let n = r.u32('table count'); n > 0; n--) m.table64.push(tableType(r)); break;
      case SectionId.memory: for (let n = r.u32('memory count'); n > 0; n--) m.memory64.push(limits(r, 'memory')); break;
      case SectionId.global: readGlobals(r, m, section); break;
      case SectionId.export: readExports(r, m, section); break;
      case SectionId.start: m.start = r.u32('start function index'); checkStart(bytes, m, m.start, section.start); break;
      case SectionId.code: m.code = section; r.pos = section.end; break;
      default: r.pos = section.end;
    }
    expectSectionEnd(r, section);
  }
  return m;
}

function readImports(r: ByteReader, m: Reading): void {
  for (let n = r.u32('import count'); n > 0; n--) {
    r.name('import module name');
    r.name('import name');
    const at = r.pos;
    const kind = r.u8('import kind');
    if (kind === 0) { m.funcTypes.push(r.u32('type index')); m.importedFuncs++; }
    else if (kind === 1) m.table64.push(tableType(r));
    else if (kind === 2) m.memory64.push(limits(r, 'memory'));
    else if (kind === 3) { globalType(r); m.globals++; }
    else if (kind === 4) { r.u8('tag attribute'); r.u32('tag type index'); }
    else throw malformed(`unknown import kind 0x${kind.toString(16)}`, at);
  }
}

/** A table type (reference type byte, limits); returns whether the table is 64-bit. */
function tableType(r: ByteReader): boolean {
  const at = r.pos;
  const type = r.u8('table element type');
  if (type !== 0x70 && type !== 0x6f) throw malformed(`unknown table element type 0x${type.toString(16)}`, at);
  return limits(r, 'table');
}

/*
 * Limits:  flags:u8  min:LEB  [max:LEB]    bit 0: max present, bit 1: shared, bit 2: 64-bit (LEBs are u64)
 * Returns whether the limits are 64-bit.
 */
function limits(r: ByteReader, what: string): boolean {
  const at = r.pos;
  const flags = r.u8(`${what} limits flags`);
  if (flags > 0x07) throw malformed(`${what} limits flags 0x${flags.toString(16)} are not in 0x00..0x07`, at);
  const wide = (flags & 0x04) !== 0;
  for (let n = (flags & 0x01) !== 0 ? 2 : 1; n > 0; n--) {
    if (wide) r.u64(`${what} limit`);
    else r.u32(`${what} limit`);
  }
  return wide;
}

function globalType(r: ByteReader): void {
  const at = r.pos;
  const type = r.u8('global type');
  if (!VALUE_TYPE_BYTES.has(type)) throw malformed(`unknown global type 0x${type.toString(16)}`, at);
  const mutability = r.u8('global mutability');
  if (mutability > 1) throw malformed(`global mutability must be 0 or 1, got 0x${mutability.toString(16)}`, at + 1);
}

/*
 * Global section:  count:u32  (type:u8 mut:u8 init-expr... 0x0b)*
 */
function readGlobals(r: ByteReader, m: Reading, section: Section): void {
  const count = r.u32('global count');
  const entries = r.pos;
  const ins: Instruction = { op: 0, a: 0, b: 0 };
  for (let i = 0; i < count; i++) {
    globalType(r);
    m.globals++; // counted before its initialiser: a global may only refer to the ones before it
    for (let at = r.pos; ; at = r.pos) {
      readInstruction(r, ins);
      if (ins.op === Op.end) break;
      if (ins.op === Op.globalGet && ins.a >= m.globals) throw malformed(`unknown global ${ins.a}`, at);
    }
  }
  m.global = { section, count, entries };
}

/*
 * Export section:  count:u32  (name kind:u8 index:u32)*
 */
function readExports(r: ByteReader, m: Reading, section: Section): void {
  const count = r.u32('export count');
  const entries = r.pos;
  const names = new Set<string>();
  for (let i = 0; i < count; i++) {
    names.add(r.name('export name'));
    const at = r.pos;
    const kind = r.u8('export kind');
    const index = r.u32('export index');
    if (kind > 4) throw malformed(`unknown export kind 0x${kind.toString(16)}`, at);
    // The fuel global takes the next global index: exporting it by number was invalid and must stay so.
    if (kind === 3 && index >= m.globals) throw malformed(`export of unknown global ${index}`, at);
  }
  m.export = { section, count, entries, names };
}

/** A start function must take and return nothing; exported instead, one that does not would become valid. */
function checkStart(bytes: Uint8Array, m: Reading, index: number, at: number): void {
  const typeIndex = m.funcTypes[index];
  if (typeIndex === undefined) throw malformed(`start function ${index} does not exist`, at);
  const r = m.types === null ? null : sectionReader(bytes, m.types);
  const count = r === null ? 0 : r.u32('type count');
  if (r === null || typeIndex >= count) throw malformed(`start function ${index} has unknown type ${typeIndex}`, at);
  for (let i = 0; ; i++) {
    const form = r.pos;
    if (r.u8('type form') !== 0x60) throw malformed('unsupported type form (expected 0x60, func)', form);
    const params = r.u32('param count');
    r.skip(params, 'param types'); // one byte each: the value types this decoder knows
    const results = r.u32('result count');
    r.skip(results, 'result types');
    if (i === typeIndex) {
      if (params !== 0 || results !== 0) throw malformed(`start function ${index} must take and return nothing`, at);
      return;
    }
  }
}
