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

// Immediate layouts.
const BAD = 0;
const NONE = 1;
const BLOCK_TYPE = 2;
const INDEX = 3; // one u32: label, function, local, global, table, tag, data or element index
const TWO_INDICES = 4; // call_indirect (type, table), memory.init (data, memory), table.copy (dst, src) ...
const BR_TABLE = 5;
const SELECT_TYPED = 6;
const MEMARG = 7;
const I32 = 8;
const I64 = 9;
const F32 = 10;
const F64 = 11;
const HEAP_TYPE = 12;
const ZERO_BYTE = 13; // atomic.fence's reserved byte
const LANE = 14;
const MEMARG_LANE = 15;
const BYTES16 = 16; // v128.const, i8x16.shuffle
const PREFIX = 17;

export const Op = {
  block: 0x02, loop: 0x03, if: 0x04, else: 0x05, try: 0x06, catch: 0x07, end: 0x0b,
  delegate: 0x18, catchAll: 0x19, globalGet: 0x23, globalSet: 0x24,
  memoryInit: 0xfc008, memoryCopy: 0xfc00a, memoryFill: 0xfc00b,
  tableInit: 0xfc00c, tableCopy: 0xfc00e, tableFill: 0xfc011,
} as const;

function table(size: number, ranges: [number, number, number][]): Uint8Array {
  const t = new Uint8Array(size); // BAD everywhere no range says otherwise
  for (const [from, to, layout] of ranges) t.fill(layout, from, to + 1);
  return t;
}

const SINGLE = table(256, [
  [0x00, 0x01, NONE], [0x02, 0x04, BLOCK_TYPE], [0x05, 0x05, NONE], [0x06, 0x06, BLOCK_TYPE], // unreachable..try
  [0x07, 0x09, INDEX], [0x0b, 0x0b, NONE], [0x0c, 0x0d, INDEX], [0x0e, 0x0e, BR_TABLE], [0x0f, 0x0f, NONE],
  [0x10, 0x10, INDEX], [0x11, 0x11, TWO_INDICES], [0x12, 0x12, INDEX], [0x13, 0x13, TWO_INDICES], // calls, tail calls
  [0x18, 0x18, INDEX], [0x19, 0x19, NONE], [0x1a, 0x1b, NONE], [0x1c, 0x1c, SELECT_TYPED], // delegate, catch_all, drop, select
  [0x20, 0x26, INDEX], [0x28, 0x3e, MEMARG], [0x3f, 0x40, INDEX], // locals, globals, table.get/set, loads, stores, memory.size/grow
  [0x41, 0x41, I32], [0x42, 0x42, I64], [0x43, 0x43, F32], [0x44, 0x44, F64], [0x45, 0xc4, NONE], // numeric, sign extension
  [0xd0, 0xd0, HEAP_TYPE], [0xd1, 0xd1, NONE], [0xd2, 0xd2, INDEX], [0xfc, 0xfe, PREFIX],
]);

const PREFIX_FC = table(18, [
  [0x00, 0x07, NONE], [0x08, 0x08, TWO_INDICES], [0x09, 0x09, INDEX], [0x0a, 0x0a, TWO_INDICES], [0x0b, 0x0b, INDEX],
  [0x0c, 0x0c, TWO_INDICES], [0x0d, 0x0d, INDEX], [0x0e, 0x0e, TWO_INDICES], [0x0f, 0x11, INDEX],
]);

// The SIMD opcode space has holes (0x9a, 0xa2, ...) where proposals were withdrawn; they stay BAD.
const PREFIX_FD = table(0x114, [
  [0x00, 0x0b, MEMARG], [0x0c, 0x0d, BYTES16], [0x0e, 0x14, NONE], [0x15, 0x22, LANE], [0x23, 0x53, NONE],
  [0x54, 0x5b, MEMARG_LANE], [0x5c, 0x5d, MEMARG], [0x5e, 0x99, NONE], [0x9b, 0xa1, NONE], [0xa3, 0xa4, NONE],
  [0xa7, 0xae, NONE], [0xb1, 0xb1, NONE], [0xb5, 0xba, NONE], [0xbc, 0xc1, NONE], [0xc3, 0xc4, NONE],
  [0xc7, 0xce, NONE], [0xd1, 0xd1, NONE], [0xd5, 0xe1, NONE], [0xe3, 0xed, NONE], [0xef, 0x113, NONE],
]);

const PREFIX_FE = table(0x4f, [[0x00, 0x02, MEMARG], [0x03, 0x03, ZERO_BYTE], [0x10, 0x4e, MEMARG]]);

const PREFIXES: Readonly<Record<number, Uint8Array>> = { 0xfc: PREFIX_FC, 0xfd: PREFIX_FD, 0xfe: PREFIX_FE };

// Block types that are not a type index, as the signed LEB value of their one byte:
// 0x40 empty, 0x7f i32, 0x7e i64, 0x7d f32, 0x7c f64, 0x7b v128, 0x70 funcref, 0x6f externref.
const VALUE_BLOCK_TYPES: ReadonlySet<number> = new Set([-64, -1, -2, -3, -4, -5, -16, -17]);
// Value types of `select t*` and locals: each one byte.
export const VALUE_TYPE_BYTES: ReadonlySet<number> = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]);

/** One decoded instruction: its op and the first two index immediates (what metering needs to look at). */
export interface Instruction {
  op: number;
  /** First index immediate (global index of global.get, memory of memory.fill, ...), else 0. */
  a: number;
  /** Second index immediate (memory of memory.init, source of memory.copy, ...), else 0. */
  b: number;
}

/** Reads the instruction at `r.pos` into `out` and leaves `r.pos` just past its immediates. */
export function readInstruction(r: ByteReader, out: Instruction): void {
  const at = r.pos;
  let op = r.u8('opcode');
  let layout = SINGLE[op] ?? BAD;
  if (layout === PREFIX) {
    const sub = r.u32('opcode');
    layout = PREFIXES[op]?.[sub] ?? BAD;
    op = (op << 12) | sub;
  }
  if (layout === BAD) throw malformed(`unknown opcode 0x${op.toString(16)}`, at);
  out.op = op;
  out.a = 0;
  out.b = 0;
  readImmediates(r, layout, out);
}

function readImmediates(r: ByteReader, layout: number, out: Instruction): void {
  switch (layout) {
    case NONE: return;
    case INDEX: out.a = r.u32('index'); return;
    case TWO_INDICES: out.a = r.u32('index'); out.b = r.u32('index'); return;
    case BLOCK_TYPE: blockType(r); return;
    case BR_TABLE: for (let n = r.u32('br_table length') + 1; n > 0; n--) r.u32('label index'); return;
    case SELECT_TYPED: for (let n = r.u32('select type count'); n > 0; n--) valueType(r); return;
    case MEMARG: memarg(r); return;
    case MEMARG_LANE: memarg(r); r.u8('lane index'); return;
    case I32: skipLeb(r, 5, 'i32 constant'); return;
    case I64: skipLeb(r, 10, 'i64 constant'); return;
    case F32: r.skip(4, 'f32 constant'); return;
    case F64: r.skip(8, 'f64 constant'); return;
    case HEAP_TYPE: skipLeb(r, 5, 'heap type'); return;
    case ZERO_BYTE: zeroByte(r); return;
    case LANE: r.u8('lane index'); return;
    case BYTES16: r.skip(16, 'v128 immediate'); return;
    default: throw malformed(`opcode layout ${layout}`, r.pos); // unreachable: the tables hold only the layouts above
  }
}

/** A block type: 0x40, one value type byte, or a type index as a non-negative signed 33-bit LEB. */
function blockType(r: ByteReader): void {
  const at = r.pos;
  const first = r.u8('block type');
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
  r.u64('memarg offset');
}

function zeroByte(r: ByteReader): void {
  const at = r.pos;
  if (r.u8('reserved byte') !== 0) throw malformed('reserved byte must be 0', at);
}

/** Steps over a LEB128 of at most `maxBytes` bytes without decoding it (constants need no value here). */
function skipLeb(r: ByteReader, maxBytes: number, what: string): void {
  const at = r.pos;
  for (let i = 0; i < maxBytes; i++) {
    if ((r.u8(what) & 0x80) === 0) return;
  }
  throw malformed(`${what}: LEB128 integer too long`, at);
}
