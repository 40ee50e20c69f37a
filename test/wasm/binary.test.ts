import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../../src/wasm/binary.js';
import type { FunctionExport, MemoryInfo, ModuleInfo } from '../../src/wasm/types.js';
import { fixture } from './helpers.js';

const fn = (name: string, params: FunctionExport['params'], results: FunctionExport['results']): FunctionExport => ({
  name, params, results,
});
const mem = (min_pages: number, max_pages: number | null, flags: Partial<MemoryInfo> = {}): MemoryInfo => ({
  min_pages, max_pages, shared: false, memory64: false, ...flags,
});
const info = (exports: FunctionExport[], memories: MemoryInfo[] = [], rest: Partial<ModuleInfo> = {}): ModuleInfo => ({
  exports, imports: [], memories, tables: [], hasStart: false, memoryExports: [], ...rest,
});

const EXPECTED: Record<string, ModuleInfo> = {
  add: info([fn('add', ['i32', 'i32'], ['i32'])]),
  'add-i64': info([fn('add', ['i64', 'i64'], ['i64'])]),
  'float-ops': info([
    fn('add32', ['f32', 'f32'], ['f32']),
    fn('add64', ['f64', 'f64'], ['f64']),
    fn('copysign32', ['f32', 'f32'], ['f32']),
    fn('copysign64', ['f64', 'f64'], ['f64']),
    fn('bits32', ['f32'], ['i32']),
    fn('bits64', ['f64'], ['i64']),
    fn('mixed', ['i32', 'f32', 'i64', 'f64'], ['i64']),
  ]),
  'multi-value': info([fn('triple', [], ['i32', 'i64', 'f64'])]),
  'loop-forever': info([fn('spin', [], [])]),
  'start-loop': info([fn('noop', [], [])], [], { hasStart: true }),
  trap: info([fn('div', ['i32', 'i32'], ['i32']), fn('unreachable', [], []), fn('oob', [], ['i32'])], [mem(1, 1)]),
  'stack-overflow': info([fn('recurse', ['i32'], ['i32'])]),
  'grow-memory': info([fn('grow', ['i32'], ['i32']), fn('size', [], ['i32'])], [mem(1, null)]),
  'grow-loop': info([fn('grow_all', [], ['i32'])], [mem(1, null)]),
  'big-memory': info([fn('size', [], ['i32'])], [mem(5000, null)]),
  'imports-fn': info([fn('run', [], [])], [], {
    imports: [{ module: 'env', name: 'log', kind: 'function', type: { params: ['i32'], results: [] } }],
  }),
  'shared-memory': info([fn('size', [], ['i32'])], [mem(1, 2, { shared: true })]),
  'two-memories': info([fn('size', [], ['i32'])], [mem(1, null), mem(2, 3)]),
  memory64: info([fn('size', [], ['i64'])], [mem(1, 2, { memory64: true })]),
  'no-exports': info([]),
  'single-export': info([fn('double', ['i32'], ['i32'])], [mem(1, null)], { memoryExports: [{ name: 'memory', index: 0 }] }),
  'memory-max': info([fn('grow20', [], ['i32']), fn('grow', ['i32'], ['i32'])], [mem(1, 10)]),
  'v128-param': info([fn('lane0', ['v128'], ['i32'])]),
  'big-table': info([fn('f', [], [])], [], { tables: [{ min_elements: 10_000_000, max_elements: null }] }),
  'table-grow': info([fn('grow', ['i32'], ['i32'])], [], { tables: [{ min_elements: 10, max_elements: null }] }),
  maybe: info([fn('maybe', ['i32'], ['i32'])]),
};

describe('inspect: fixtures', () => {
  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(`${name}: exports, signatures, imports and memory`, () => {
      assert.deepEqual(inspect(fixture(name)), expected);
    });
  }
});

// Hand-assembled modules for what the fixtures do not show.
const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const section = (id: number, content: number[]): number[] => [id, content.length, ...content];
const module = (...sections: number[][]): Uint8Array => Uint8Array.from([...PREAMBLE, ...sections.flat()]);

describe('inspect: function index space', () => {
  it('counts imported functions first when resolving an export', () => {
    const bytes = module(
      section(1, [2, 0x60, 0, 0, 0x60, 1, 0x7e, 1, 0x7c]), // types: ()->(), (i64)->(f64)
      section(2, [1, 1, 0x61, 1, 0x62, 0x00, 0x00]), // import a.b: func type 0
      section(3, [1, 1]), // func 1: type 1
      section(7, [2, 1, 0x69, 0x00, 0x00, 1, 0x64, 0x00, 0x01]), // "i" = func 0 (import), "d" = func 1
      section(10, [1, 2, 0, 0x0b]),
    );
    assert.deepEqual(inspect(bytes).exports, [fn('i', [], []), fn('d', ['i64'], ['f64'])]);
  });

  it('lists only function exports, in binary order', () => {
    const bytes = module(
      section(1, [1, 0x60, 0, 0]),
      section(3, [1, 0]),
      section(5, [1, 0x00, 1]),
      section(7, [3, 1, 0x7a, 0x02, 0x00, 1, 0x79, 0x00, 0x00, 1, 0x78, 0x00, 0x00]), // "z" memory, "y", "x" funcs
      section(10, [1, 2, 0, 0x0b]),
    );
    assert.deepEqual(inspect(bytes).exports.map((e) => e.name), ['y', 'x']);
  });

  it('reads every limits flag combination (0x00..0x07)', () => {
    for (let flags = 0; flags <= 7; flags++) {
      const limits = (flags & 1) !== 0 ? [flags, 2, 3] : [flags, 2];
      const [memory] = inspect(module(section(5, [1, ...limits]))).memories;
      assert.deepEqual(memory, mem(2, (flags & 1) !== 0 ? 3 : null, { shared: (flags & 2) !== 0, memory64: (flags & 4) !== 0 }));
    }
  });

  it('skips custom sections anywhere and sections it does not need', () => {
    const custom = section(0, [3, 0x61, 0x62, 0x63, 0xff, 0xfe]);
    const bytes = module(custom, section(1, [1, 0x60, 0, 0]), custom, section(3, [1, 0]), section(10, [1, 2, 0, 0x0b]), custom);
    assert.deepEqual(inspect(bytes), info([]));
  });

  it('does not decode code bodies: a 2 MiB code section is skipped whole', () => {
    const body = new Uint8Array(2 * 1024 * 1024);
    body.fill(0x01); // nops
    const size = body.length + 2;
    const head = [...PREAMBLE, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, 0x6e, 0x00, 0x00];
    // code section: id, size (4-byte LEB), count 1, body size (4-byte LEB), locals 0, nops..., end
    const leb4 = (n: number): number[] => [(n & 0x7f) | 0x80, ((n >> 7) & 0x7f) | 0x80, ((n >> 14) & 0x7f) | 0x80, n >> 21];
    const bytes = Uint8Array.from([...head, 10, ...leb4(size + 5), 1, ...leb4(size), 0]);
    const full = new Uint8Array(bytes.length + body.length + 1);
    full.set(bytes);
    full.set(body, bytes.length);
    full[full.length - 1] = 0x0b;
    assert.deepEqual(inspect(full).exports, [fn('n', [], [])]);
    assert.ok(WebAssembly.validate(full));
  });
});
