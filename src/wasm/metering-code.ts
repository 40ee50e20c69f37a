import { ByteReader, encodeULeb128, malformed } from './byte-reader.js';
import { ByteWriter, positiveSlebLength } from './chunks.js';
import { Op, readInstruction, VALUE_TYPE_BYTES, type Instruction } from './instructions.js';
import { expectSectionEnd, sectionReader, type Section } from './sections.js';

/*
 * Cost model (METERING_VERSION 1). Every instruction belongs to its innermost enclosing `loop`, or to
 * the function when no loop encloses it. A charge point sits at the function entry and at the top of
 * every loop body; it charges the number of instructions that belong to it (all branches of nested
 * blocks, ifs and trys included, nested loops excluded: they charge themselves), at least 1. So:
 *
 *   - each call costs at least 1 and each loop iteration at least 1: no execution runs unbounded;
 *   - the charge is an upper bound on the instructions run until the next charge point, known
 *     statically, and the same for the same path: fuel is deterministic;
 *   - checks run once per call and once per iteration, never per block.
 *
 * `end`, `else`, `catch`, `catch_all` and `delegate` close or split blocks and are not counted.
 * Bulk operations also pay for their size once they succeed: memory.fill/copy/init one unit per
 * 4 bytes (MEMORY_BYTES_SHIFT), table.fill/copy/init one per element. A bulk op that traps
 * (out of bounds) is not charged, so a spec trap is never reported as running out of fuel.
 * memory.grow and table.grow are not charged by size: growth is capped by the tier's memory limit,
 * and the engine commits pages lazily, so the cost lands on the code that touches them, which pays.
 */

/**
 * Bytes of memory.fill/copy/init that cost one unit of fuel, as a shift: 2^2 = 4 bytes, an i32
 * store's worth. Measured on Node 20 (32 MiB ops): ~0.16 ns per unit for memory.fill and ~0.24 for
 * memory.copy, against ~0.09 ns per unit of straight-line code; a store loop writing the same bytes
 * pays ~0.7 units per byte, so bulk ops stay the cheaper way to move memory.
 */
export const MEMORY_BYTES_SHIFT = 2;

/** What instrumenting code needs to know about the module around it. */
export interface CodeContext {
  /** Index of the fuel global; the scratch global, when bulk ops need it, is the next one. */
  fuelGlobal: number;
  /** Globals the module had (imported and defined): an index at or past this was invalid. */
  globals: number;
  /** Whether memory i (table i) takes 64-bit addresses, so its sizes are i64. */
  memory64: readonly boolean[];
  table64: readonly boolean[];
  /** Whether to keep each body's Shifts (for code metadata sections, which hold body offsets). */
  keepShifts: boolean;
}

/**
 * Where a body grew: at body offset `at[i]` (from the start of the body, locals included), `grown[i]`
 * bytes had been inserted in all, counting what went in at `at[i]` itself.
 */
export interface Shifts {
  at: number[];
  grown: number[];
}

export interface MeteredCode {
  /** The new code section's content. */
  content: Uint8Array;
  /** Whether a bulk operation stashes its size in the scratch global. */
  usesScratch: boolean;
  /** Per defined function, when the context asked to keep them. */
  shifts: Shifts[];
}

// What is inserted at an event's offset.
const CHARGE = 0; // static charge, arg = the charge point
const STASH32 = 1; // before a bulk op whose size is i32: keep a copy of it in the scratch global
const STASH64 = 2;
const CHARGE_MEMORY = 3; // after a bulk op: charge its size
const CHARGE_TABLE = 4;

/** Instruments every function body of the code section `section`. */
export function meterCode(bytes: Uint8Array, section: Section, ctx: CodeContext): MeteredCode {
  const r = sectionReader(bytes, section);
  const out = new ByteWriter(((section.end - section.start) * 1.25) | 0);
  const snippets = new Snippets(ctx.fuelGlobal);
  const scan = new BodyScan(ctx);
  let usesScratch = false;
  const shifts: Shifts[] = [];
  const count = r.u32('code entry count');
  out.uleb(count);
  for (let i = 0; i < count; i++) {
    const size = r.u32('function body size');
    const start = r.pos;
    r.skip(size, 'function body');
    scan.run(bytes, start, r.pos);
    out.uleb(size + scan.inserted(snippets));
    const shift: Shifts | null = ctx.keepShifts ? { at: [], grown: [] } : null;
    scan.emit(out, bytes, start, r.pos, snippets, shift);
    usesScratch ||= scan.usesScratch;
    if (shift !== null) shifts.push(shift);
  }
  expectSectionEnd(r, section);
  return { content: out.view(), usesScratch, shifts };
}

/**
 * One function body's walk: where to insert what. Charge points are numbered in the order their
 * offsets come (entry first), and `costs[point]` counts the instructions that belong to it.
 */
class BodyScan {
  // Events (offset, kind, arg) in offset order; the arrays are reused across bodies, `events` long.
  private readonly at: number[] = [];
  private readonly kind: number[] = [];
  private readonly arg: number[] = [];
  private events = 0;
  private readonly costs: number[] = [];
  private points = 0;
  /** The charge point each open block's instructions belong to; [0] is the function body. */
  private readonly owner: number[] = [];
  private readonly ins: Instruction = { op: 0, a: 0, b: 0 };
  usesScratch = false;

  constructor(private readonly ctx: CodeContext) {}

  run(bytes: Uint8Array, start: number, end: number): void {
    this.events = this.points = 0;
    this.usesScratch = false;
    const r = new ByteReader(bytes, start, end);
    skipLocals(r);
    let point = this.chargePoint(r.pos);
    let counted = 0; // instructions seen for `point` and not yet added to its cost
    this.owner[0] = point;
    let depth = 1;
    const ins = this.ins;
    while (depth > 0) {
      const at = r.pos;
      readInstruction(r, ins);
      switch (ins.op) {
        case Op.end: case Op.delegate: {
          depth--;
          const outer = this.owner[depth - 1] ?? 0;
          if (outer !== point) { this.costs[point] = (this.costs[point] ?? 0) + counted; point = outer; counted = 0; }
          continue;
        }
        case Op.else: case Op.catch: case Op.catchAll: continue;
        case Op.loop:
          this.costs[point] = (this.costs[point] ?? 0) + counted + 1; // the loop instruction is its block's
          point = this.chargePoint(r.pos);
          counted = 0;
          this.owner[depth++] = point;
          continue;
        case Op.block: case Op.if: case Op.try: this.owner[depth++] = point; break;
        case Op.globalGet: case Op.globalSet: this.checkGlobal(ins.a, at); break;
        default: if (ins.op >= Op.memoryInit && ins.op <= Op.tableFill) this.bulk(ins, at, r.pos);
      }
      counted++;
    }
    this.costs[point] = (this.costs[point] ?? 0) + counted;
    if (r.pos !== end) throw malformed('function body continues after its final end', r.pos);
  }

  private chargePoint(offset: number): number {
    const point = this.points++;
    this.costs[point] = 0;
    this.event(offset, CHARGE, point);
    return point;
  }

  private event(offset: number, kind: number, arg: number): void {
    const i = this.events++;
    this.at[i] = offset;
    this.kind[i] = kind;
    this.arg[i] = arg;
  }

  private checkGlobal(index: number, at: number): void {
    // The fuel and scratch globals take the next indices: code that named them was invalid and must stay so.
    if (index >= this.ctx.globals) throw malformed(`unknown global ${index}`, at);
  }

  /** Charges a bulk op for its size: stash the size operand before it, charge after it succeeds. */
  private bulk(ins: Instruction, at: number, after: number): void {
    const { memory64, table64 } = this.ctx;
    let wide: boolean;
    switch (ins.op) {
      case Op.memoryFill: wide = memory64[ins.a] === true; break;
      case Op.memoryCopy: wide = memory64[ins.a] === true && memory64[ins.b] === true; break;
      case Op.tableFill: wide = table64[ins.a] === true; break;
      case Op.tableCopy: wide = table64[ins.a] === true && table64[ins.b] === true; break;
      case Op.memoryInit: case Op.tableInit: wide = false; break; // a segment's length is always i32
      default: return;
    }
    this.usesScratch = true;
    this.event(at, wide ? STASH64 : STASH32, 0);
    const memory = ins.op === Op.memoryFill || ins.op === Op.memoryCopy || ins.op === Op.memoryInit;
    this.event(after, memory ? CHARGE_MEMORY : CHARGE_TABLE, 0);
  }

  private cost(i: number): number {
    return Math.max(1, this.costs[this.arg[i] ?? 0] ?? 0);
  }

  /** How many bytes emit() inserts. */
  inserted(snippets: Snippets): number {
    let n = 0;
    for (let i = 0; i < this.events; i++) n += snippets.length(this.kind[i] ?? 0, this.cost(i));
    return n;
  }

  /** Writes the instrumented body: the original bytes with every event's snippet inserted at its offset. */
  emit(out: ByteWriter, bytes: Uint8Array, start: number, end: number, snippets: Snippets, shifts: Shifts | null): void {
    const bodyStart = out.length;
    let from = start;
    for (let i = 0; i < this.events; i++) {
      const at = this.at[i] ?? end;
      out.copy(bytes, from, at);
      from = at;
      snippets.write(out, this.kind[i] ?? 0, this.cost(i));
      if (shifts !== null) {
        shifts.at.push(at - start);
        shifts.grown.push(out.length - bodyStart - (at - start));
      }
    }
    out.copy(bytes, from, end);
  }
}

/*
 * Locals:  count:u32  (n:u32 type:u8)*    kept as they are; only their end is needed.
 */
function skipLocals(r: ByteReader): void {
  for (let groups = r.u32('local declaration count'); groups > 0; groups--) {
    r.u32('local count');
    const at = r.pos;
    const type = r.u8('local type');
    if (!VALUE_TYPE_BYTES.has(type)) throw malformed(`unknown local type 0x${type.toString(16)}`, at);
  }
}

/** The byte sequences inserted into bodies, built once per module (they name its global indices). */
class Snippets {
  /** Indexed by event kind; CHARGE's entry is unused (its cost varies). */
  private readonly fixed: Uint8Array[];
  private readonly chargeHead: Uint8Array;
  private readonly chargeTail: Uint8Array;

  constructor(fuelGlobal: number) {
    const fuel = encodeULeb128(fuelGlobal);
    const scratch = encodeULeb128(fuelGlobal + 1);
    // global.get $fuel; i64.const 0; i64.lt_s; if; unreachable; end
    const check = [0x23, ...fuel, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b];
    // global.get $fuel; i64.const <cost> | i64.sub; global.set $fuel; <check>
    this.chargeHead = Uint8Array.of(0x23, ...fuel, 0x42);
    this.chargeTail = Uint8Array.of(0x7d, 0x24, ...fuel, ...check);
    // global.get $fuel; global.get $scratch; i64.const <shift>; i64.shr_u; i64.sub; global.set $fuel; <check>
    const chargeSize = (shift: number): Uint8Array =>
      Uint8Array.of(0x23, ...fuel, 0x23, ...scratch, 0x42, shift, 0x88, 0x7d, 0x24, ...fuel, ...check);
    this.fixed = [];
    this.fixed[STASH32] = Uint8Array.of(0xad, 0x24, ...scratch, 0x23, ...scratch, 0xa7); // i64.extend_i32_u; set; get; i32.wrap_i64
    this.fixed[STASH64] = Uint8Array.of(0x24, ...scratch, 0x23, ...scratch); // global.set $scratch; global.get $scratch
    this.fixed[CHARGE_MEMORY] = chargeSize(MEMORY_BYTES_SHIFT);
    this.fixed[CHARGE_TABLE] = chargeSize(0);
  }

  length(kind: number, cost: number): number {
    if (kind === CHARGE) return this.chargeHead.length + positiveSlebLength(cost) + this.chargeTail.length;
    return this.fixed[kind]?.length ?? 0;
  }

  write(out: ByteWriter, kind: number, cost: number): void {
    if (kind === CHARGE) {
      out.bytes(this.chargeHead);
      out.positiveSleb(cost);
      out.bytes(this.chargeTail);
    } else {
      out.bytes(this.fixed[kind] ?? new Uint8Array());
    }
  }
}
