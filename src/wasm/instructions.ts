import { type ByteReader, malformed } from './byte-reader.js';

/*
 * A decoder for code-section instructions: it reads one opcode and steps over its immediates, so
 * a caller can walk a function body and know where every instruction starts and ends. It checks
 * encodings (known opcodes, LEB lengths) but not types: the engine validates the rest.
 *
 *   op:u8 imm*                      most instructions (core spec, "Binary Format > Instructions")
 *   0xFC sub:u32 imm*               saturating truncation, bulk memory, table ops
 *   0xFD sub:u32 imm*               SIMD (fixed 128-bit) and relaxed SIMD
 *   0xFE sub:u32 imm*               threads (atomics)
 *
 * A prefixed instruction gets the op `prefix << 12 | sub` (e.g. memory.fill is 0xFC00B).
 */

// Immediate layouts. A const enum: the compiler writes the numbers in, so the engine sees literal
// cases (measured ~15% faster on a 1 MiB code section than module-level constants).
const enum L {
  Bad, None, BlockType,
  Index, // one u32: label, function, local, global, table, tag, data or element index
  TwoIndices, // call_indirect (type, table), memory.init (data, memory), table.copy (dst, src) ...
  BrTable, SelectTyped, Memarg, I32, I64, F32, F64, HeapType,
  ZeroByte, // atomic.fence's reserved byte
  Lane, MemargLane,
  Bytes16, // v128.const, i8x16.shuffle
  Prefix,
}

/** Ops the metering walk branches on (a const enum too: the numbers are written in where used). */
export const enum Op {
  block = 0x02, loop = 0x03, if = 0x04, else = 0x05, try = 0x06, catch = 0x07, end = 0x0b,
  delegate = 0x18, catchAll = 0x19, globalGet = 0x23, globalSet = 0x24,
  memoryInit = 0xfc008, memoryCopy = 0xfc00a, memoryFill = 0xfc00b,
  tableInit = 0xfc00c, tableCopy = 0xfc00e, tableFill = 0xfc011,
}

function table(size: number, ranges: [number, number, number][]): Uint8Array {
  const t = new Uint8Array(size); // Bad everywhere no range says otherwise
  for (const [from, to, layout] of ranges) t.fill(layout, from, to + 1);
  return t;
}

const SINGLE = table(256, [
  [0x00, 0x01, L.None], [0x02, 0x04, L.BlockType], [0x05, 0x05, L.None], [0x06, 0x06, L.BlockType], // unreachable..try
  [0x07, 0x09, L.Index], [0x0b, 0x0b, L.None], [0x0c, 0x0d, L.Index], [0x0e, 0x0e, L.BrTable], [0x0f, 0x0f, L.None],
  [0x10, 0x10, L.Index], [0x11, 0x11, L.TwoIndices], [0x12, 0x12, L.Index], [0x13, 0x13, L.TwoIndices], // calls, tail calls
  [0x18, 0x18, L.Index], [0x19, 0x19, L.None], [0x1a, 0x1b, L.None], [0x1c, 0x1c, L.SelectTyped], // delegate, catch_all, drop, select
  [0x20, 0x26, L.Index], [0x28, 0x3e, L.Memarg], [0x3f, 0x40, L.Index], // locals, globals, table.get/set, loads, stores, memory.size/grow
  [0x41, 0x41, L.I32], [0x42, 0x42, L.I64], [0x43, 0x43, L.F32], [0x44, 0x44, L.F64], [0x45, 0xc4, L.None], // numeric, sign extension
  [0xd0, 0xd0, L.HeapType], [0xd1, 0xd1, L.None], [0xd2, 0xd2, L.Index], [0xfc, 0xfe, L.Prefix],
]);

const PREFIX_FC = table(18, [
  [0x00, 0x07, L.None], [0x08, 0x08, L.TwoIndices], [0x09, 0x09, L.Index], [0x0a, 0x0a, L.TwoIndices], [0x0b, 0x0b, L.Index],
  [0x0c, 0x0c, L.TwoIndices], [0x0d, 0x0d, L.Index], [0x0e, 0x0e, L.TwoIndices], [0x0f, 0x11, L.Index],
]);

// The SIMD opcode space has holes (0x9a, 0xa2, ...) where proposals were withdrawn; they stay Bad.
const PREFIX_FD = table(0x114, [
  [0x00, 0x0b, L.Memarg], [0x0c, 0x0d, L.Bytes16], [0x0e, 0x14, L.None], [0x15, 0x22, L.Lane], [0x23, 0x53, L.None],
  [0x54, 0x5b, L.MemargLane], [0x5c, 0x5d, L.Memarg], [0x5e, 0x99, L.None], [0x9b, 0xa1, L.None], [0xa3, 0xa4, L.None],
  [0xa7, 0xae, L.None], [0xb1, 0xb1, L.None], [0xb5, 0xba, L.None], [0xbc, 0xc1, L.None], [0xc3, 0xc4, L.None],
  [0xc7, 0xce, L.None], [0xd1, 0xd1, L.None], [0xd5, 0xe1, L.None], [0xe3, 0xed, L.None], [0xef, 0x113, L.None],
]);

const PREFIX_FE = table(0x4f, [[0x00, 0x02, L.Memarg], [0x03, 0x03, L.ZeroByte], [0x10, 0x4e, L.Memarg]]);

const PREFIXES: Readonly<Record<number, Uint8Array>> = { 0xfc: PREFIX_FC, 0xfd: PREFIX_FD, 0xfe: PREFIX_FE };

// Block types that are not a type index, as the signed LEB value of their one byte:
// 0x40 empty, 0x7f i32, 0x7e i64, 0x7d f32, 0x7c f64, 0x7b v128, 0x70 funcref, 0x6f externref.
const VALUE_BLOCK_TYPES: ReadonlySet<number> = new Set([-64, -1, -2, -3, -4, -5, -16, -17]);
// Value types of `select t*` and locals: each one byte.
export const VALUE_TYPE_BYTES: ReadonlySet<number> = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]);

/** One decoded instruction: its op and the first two index immediates (what metering needs to look at). */
export interface Instruction {
  op: number;
  /** First index immediate (global index of global.get, memory of memory.fill, ...); stale for ops without one. */
  a: number;
  /** Second index immediate (memory of memory.init, source of memory.copy, ...); stale for ops without one. */
  b: number;
}

/** Reads the instruction at `r.pos` into `out` and leaves `r.pos` just past its immediates. */
export function readInstruction(r: ByteReader, out: Instruction): void {
  const at = r.pos;
  let op = r.bytes[at] ?? -1;
  if (op < 0 || at >= r.end) throw malformed('unexpected end while reading opcode', at);
  r.pos = at + 1;
  let layout = SINGLE[op] ?? L.Bad;
  // The two commonest layouts first: most instructions are numeric (no immediate) or take an index.
  if (layout === L.None) {
    out.op = op;
    return;
  }
  if (layout === L.Index) {
    out.op = op;
    out.a = r.u32('index');
    return;
  }
  if (layout === L.Prefix) {
    const sub = r.u32('opcode');
    layout = PREFIXES[op]?.[sub] ?? L.Bad;
    op = (op << 12) | sub;
  }
  if (layout === L.Bad) throw malformed(`unknown opcode 0x${op.toString(16)}`, at);
  out.op = op;
  readImmediates(r, layout, out);
}

function readImmediates(r: ByteReader, layout: number, out: Instruction): void {
  switch (layout) {
    case L.None: return;
    case L.Index: out.a = r.u32('index'); return;
    case L.TwoIndices: out.a = r.u32('index'); out.b = r.u32('index'); return;
    case L.BlockType: blockType(r); return;
    case L.BrTable: for (let n = r.u32('br_table length') + 1; n > 0; n--) r.u32('label index'); return;
    case L.SelectTyped: for (let n = r.u32('select type count'); n > 0; n--) valueType(r); return;
    case L.Memarg: memarg(r); return;
    case L.MemargLane: memarg(r); r.u8('lane index'); return;
    case L.I32: skipLeb(r, 5, 'i32 constant'); return;
    case L.I64: skipLeb(r, 10, 'i64 constant'); return;
    case L.F32: r.skip(4, 'f32 constant'); return;
    case L.F64: r.skip(8, 'f64 constant'); return;
    case L.HeapType: skipLeb(r, 5, 'heap type'); return;
    case L.ZeroByte: zeroByte(r); return;
    case L.Lane: r.u8('lane index'); return;
    case L.Bytes16: r.skip(16, 'v128 immediate'); return;
    default: throw malformed(`opcode layout ${layout}`, r.pos); // unreachable: the tables hold only the layouts above
  }
}

/** A block type: 0x40, one value type byte, or a type index as a non-negative signed 33-bit LEB. */
function blockType(r: ByteReader): void {
  const at = r.pos;
  const first = r.u8('block type');
  if (first === 0x40) return; // the empty block type: most blocks
  if ((first & 0xc0) === 0x40) {
    // One byte with the sign bit set: a negative value, so a value type or the empty type.
    if (!VALUE_BLOCK_TYPES.has(first - 0x80)) throw malformed(`unknown block type 0x${first.toString(16)}`, at);
    return;
  }
  r.pos = at;
  skipLeb(r, 5, 'block type index');
  if (((r.bytes[r.pos - 1] ?? 0) & 0x40) !== 0) throw malformed('block type index is negative', at);
}

function valueType(r: ByteReader): void {
  const at = r.pos;
  const byte = r.u8('value type');
  if (!VALUE_TYPE_BYTES.has(byte)) throw malformed(`unknown value type 0x${byte.toString(16)}`, at);
}

/*
 * memarg:  align:u32  [memory:u32 if align bit 6]  offset:u64
 * (bit 6 and a 64-bit offset come from multi-memory and memory64; older engines reject both.)
 */
function memarg(r: ByteReader): void {
  const align = r.u32('memarg alignment');
  if ((align & 0x40) !== 0) r.u32('memarg memory index');
  skipLeb(r, 10, 'memarg offset'); // its value does not matter here; the engine checks its range
}

function zeroByte(r: ByteReader): void {
  const at = r.pos;
  if (r.u8('reserved byte') !== 0) throw malformed('reserved byte must be 0', at);
}

/** Steps over a LEB128 of at most `maxBytes` bytes without decoding it (constants need no value here). */
function skipLeb(r: ByteReader, maxBytes: number, what: string): void {
  const { bytes, pos } = r;
  if ((bytes[pos] ?? 0x80) < 0x80 && pos < r.end) {
    r.pos = pos + 1; // one byte: most constants are small
    return;
  }
  const last = Math.min(r.end, pos + maxBytes);
  for (let p = pos; p < last; p++) {
    if (((bytes[p] ?? 0) & 0x80) === 0) {
      r.pos = p + 1;
      return;
    }
  }
  if (last === pos + maxBytes) throw malformed(`${what}: LEB128 integer too long`, pos);
  throw malformed(`unexpected end while reading ${what}`, last);
}
