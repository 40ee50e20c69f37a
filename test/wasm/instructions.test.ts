import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import wabt from 'wabt';
import { ByteReader } from '../../src/wasm/byte-reader.js';
import { readInstruction, type Instruction } from '../../src/wasm/instructions.js';
import { throwsCode } from './helpers.js';

/*
 * The instruction decoder against wabt's, opcode by opcode: for every opcode of every prefix, find
 * the immediates wabt reads it with (the one candidate that leaves exactly one instruction before
 * `end`), then check that the decoder steps over the same bytes, or that both refuse the opcode.
 */

const FEATURES = {
  exceptions: true, simd: true, threads: true, tail_call: true, bulk_memory: true, reference_types: true,
  multi_value: true, sat_float_to_int: true, sign_extension: true, relaxed_simd: true, memory64: true,
};

// Immediates to try, shortest first; a candidate too long leaves zeros that read as `unreachable`.
const CANDIDATES: number[][] = [
  [], [0x40], [0x00], [0x70], [0x00, 0x00], [0x01, 0x7f], [0x00, 0x00, 0x00], [0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0],
  new Array<number>(16).fill(0),
];

// Opcodes wabt reads that Node 20's engine does not run, so the decoder refuses them on purpose:
// try_table and throw_ref (the newer exception handling), typed function references and GC.
const NOT_IN_NODE_20 = new Set([0x0a, 0x14, 0x15, 0x1f, 0xd3, 0xd4, 0xd5, 0xd6]);
// block, loop, if, else, try, catch, end, delegate, catch_all
const STRUCTURE = new Set([0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0b, 0x18, 0x19]);

function leb(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    const low = rest & 0x7f;
    rest >>>= 7;
    out.push(rest !== 0 ? low | 0x80 : low);
  } while (rest !== 0);
  return out;
}

/** A module with one function `() -> ()` whose body is `body` then `end`, and one passive data segment. */
function moduleWith(body: number[]): Uint8Array {
  const code = [0x00, ...body, 0x0b];
  const section = (id: number, content: number[]): number[] => [id, ...leb(content.length), ...content];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 0, 0]), ...section(3, [1, 0]), ...section(12, [1]),
    ...section(10, [1, ...leb(code.length), ...code]), ...section(11, [1, 0x01, 0x00]),
  ]);
}

type Wabt = Awaited<ReturnType<typeof wabt>>;

/** Whether wabt (without validating) reads `instruction` as one instruction followed by a `nop`. */
function wabtReadsOne(w: Wabt, instruction: number[]): boolean {
  try {
    const module = w.readWasm(moduleWith([...instruction, 0x01]), { check: false, ...FEATURES });
    try {
      const text = module.toText({ foldExprs: false });
      const lines = text.split('\n');
      const first = lines.findIndex((l) => l.includes('(func'));
      const body = lines.slice(first + 1).filter((l) => /^ {4}\S/.test(l));
      return body.length === 2 && body[1]?.trim().startsWith('nop') === true;
    } finally {
      module.destroy();
    }
  } catch {
    return false;
  }
}

/** How many bytes the decoder reads for the instruction at the start of `bytes`, or its error code. */
function decoded(bytes: number[]): number | string {
  const r = new ByteReader(Uint8Array.from([...bytes, 0x01, 0x0b]), 0, bytes.length + 2);
  const ins: Instruction = { op: 0, a: 0, b: 0 };
  try {
    readInstruction(r, ins);
    return r.pos;
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
}

function opcodes(): number[][] {
  const all: number[][] = [];
  for (let op = 0; op < 0x100; op++) if (op < 0xfb || op === 0xff) all.push([op]);
  for (const [prefix, last] of [[0xfb, 0x20], [0xfc, 0x14], [0xfd, 0x120], [0xfe, 0x50]] as const) {
    for (let sub = 0; sub <= last; sub++) all.push([prefix, ...leb(sub)]);
  }
  return all;
}

describe('instruction decoder', () => {
  it('steps over the same immediates as wabt for every opcode, and refuses the ones wabt refuses', async () => {
    const w = await wabt();
    const differences: string[] = [];
    let known = 0;
    for (const op of opcodes()) {
      const name = op.map((b) => b.toString(16)).join(' ');
      if (op.length === 1 && STRUCTURE.has(op[0] ?? -1)) continue; // they need their block around them: checked below
      const immediates = CANDIDATES.find((c) => wabtReadsOne(w, [...op, ...c]));
      const ours = decoded(immediates === undefined ? op : [...op, ...immediates]);
      if (immediates === undefined) {
        if (ours !== 'INVALID_WASM') differences.push(`${name}: wabt refuses it, the decoder reads ${ours} bytes`);
      } else if (NOT_IN_NODE_20.has(op[0] ?? -1) || op[0] === 0xfb) {
        if (ours !== 'INVALID_WASM') differences.push(`${name}: expected a refusal (not in Node 20), got ${ours}`);
      } else if (ours !== op.length + immediates.length) {
        differences.push(`${name}: wabt reads ${immediates.length} immediate bytes, the decoder ${typeof ours === 'number' ? ours - op.length : ours}`);
      } else {
        known++;
        // The same zeros as two-byte LEB128s (80 00): where wabt still reads one instruction, the
        // immediates are LEBs, and the decoder must read them as LEBs too, not as single bytes.
        const wide = immediates.flatMap((b) => (b === 0 ? [0x80, 0x00] : [b]));
        const oursWide = decoded([...op, ...wide]);
        if (wide.length > immediates.length && wabtReadsOne(w, [...op, ...wide]) && oursWide !== op.length + wide.length) {
          differences.push(`${name}: wabt reads ${wide.length} bytes of LEB immediates, the decoder ${typeof oursWide === 'number' ? oursWide - op.length : oursWide}`);
        }
      }
    }
    assert.deepEqual(differences, []);
    assert.ok(known > 500, `only ${known} opcodes decoded`); // MVP, FC, SIMD (incl. relaxed) and atomics
  });

  it('reads the block structure opcodes and their immediates', () => {
    assert.equal(decoded([0x02, 0x40]), 2); // block (empty)
    assert.equal(decoded([0x03, 0x7f]), 2); // loop (result i32)
    assert.equal(decoded([0x04, 0x85, 0x01]), 3); // if (type 133): a multi-value block type
    assert.equal(decoded([0x06, 0x40]), 2); // try
    assert.equal(decoded([0x07, 0x00]), 2); // catch 0
    assert.equal(decoded([0x18, 0x01]), 2); // delegate 1
    assert.equal(decoded([0x19]), 1); // catch_all
    for (const op of [0x05, 0x0b]) assert.equal(decoded([op]), 1);
  });

  it('refuses malformed immediates with INVALID_WASM', () => {
    const read = (bytes: number[]) => () => readInstruction(new ByteReader(Uint8Array.from(bytes), 0, bytes.length), { op: 0, a: 0, b: 0 });
    throwsCode(read([0x02, 0x41]), 'INVALID_WASM', /block type/); // a negative value that is no value type
    throwsCode(read([0x02, 0xff, 0x7f]), 'INVALID_WASM', /negative/); // a negative type index
    throwsCode(read([0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 'INVALID_WASM', /too long/); // i32.const over 5 bytes
    throwsCode(read([0xfe, 0x03, 0x01]), 'INVALID_WASM', /reserved/); // atomic.fence 1
    throwsCode(read([0x1c, 0x01, 0x60]), 'INVALID_WASM', /value type/); // select (type 0x60)
    throwsCode(read([0xfd, 0x0c, 0x00]), 'INVALID_WASM', /runs past the end/); // v128.const cut short
    throwsCode(read([0xfd, 0x9a, 0x01]), 'INVALID_WASM', /unknown opcode 0xfd09a/); // a hole in the SIMD space
  });
});
