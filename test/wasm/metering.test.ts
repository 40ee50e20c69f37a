import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import wabt from 'wabt';
import { capMemory, exposeMemory, inspect } from '../../src/wasm/binary.js';
import { FUEL_EXPORT, MAX_FUEL, meter, setFuel, START_EXPORT } from '../../src/wasm/metering.js';
import { ByteReader } from '../../src/wasm/byte-reader.js';
import { readSections, sectionReader, SectionId } from '../../src/wasm/sections.js';
import { instantiateMetered, LARGE_FUEL, runGuarded, runMetered, runPlain, type Fn } from './metering-helpers.js';
import { fixture, throwsCode } from './helpers.js';

const w = await wabt();

/** A module from WebAssembly text, for shapes no fixture has. */
function wat(text: string, names = false): Uint8Array {
  const parsed = w.parseWat('test.wat', text, { multi_value: true, bulk_memory: true, reference_types: true, annotations: true, code_metadata: true });
  try {
    return parsed.toBinary({ write_debug_names: names }).buffer.slice();
  } finally {
    parsed.destroy();
  }
}

const fuelOf = (name: string, fn: string, args: unknown[]): bigint => {
  const ran = runMetered(meter(fixture(name)), fn, args);
  assert.equal(ran.error, undefined, `${name}.${fn}(${args.join(', ')}) failed: ${ran.error?.message}`);
  return ran.used;
};

describe('meter: running out of fuel', () => {
  it('stops a loop that never ends within a small budget, with fuel below zero', async () => {
    for (const fuel of [0n, 1n, 1000n, 100_000n]) {
      const ran = await runGuarded(meter(fixture('loop-forever')), 'spin', fuel);
      assert.ok(ran !== 'timeout', `fuel ${fuel}: still running after 10 s`);
      assert.deepEqual(ran.error, { name: 'RuntimeError', message: 'unreachable' });
      assert.ok(ran.left < 0n, `left ${ran.left}`);
      assert.equal(ran.used, fuel);
    }
  });

  it('a call that needs exactly F runs with F (left 0) and runs out with F - 1', () => {
    const metered = meter(fixture('hash-loop'));
    const need = runMetered(metered, 'hash', [100]).used;
    const exact = runMetered(metered, 'hash', [100], need);
    assert.equal(exact.error, undefined);
    assert.equal(exact.left, 0n);
    assert.equal(exact.value, runPlain(fixture('hash-loop'), 'hash', [100]).value);
    const short = runMetered(metered, 'hash', [100], need - 1n);
    assert.equal(short.error?.message, 'unreachable');
    assert.ok(short.left < 0n);
  });

  it('a start function that loops runs out of fuel through the start export, not at instantiation', async () => {
    const metered = meter(fixture('start-loop'));
    assert.equal(metered.startExport, START_EXPORT);
    assert.ok(!readSections(metered.bytes).some((s) => s.id === SectionId.start), 'the start section is gone');
    const ran = await runGuarded(metered, 'noop', 10_000n);
    assert.ok(ran !== 'timeout', 'still running after 10 s');
    assert.equal(ran.error?.message, 'unreachable');
    assert.ok(ran.left < 0n);
  });

  it('setFuel refuses what the i64 counter cannot hold', () => {
    const instance = instantiateMetered(meter(fixture('add')), 0n);
    assert.throws(() => setFuel(instance, -1n), RangeError);
    assert.throws(() => setFuel(instance, MAX_FUEL + 1n), RangeError);
    setFuel(instance, MAX_FUEL);
    assert.equal((instance.exports.add as Fn)(2, 3), 5);
  });
});

describe('meter: fuel is deterministic and grows with the work', () => {
  it('grows linearly with the iterations of a counted loop', () => {
    for (const [name, fn] of [['busy', 'busy'], ['hash-loop', 'hash']] as const) {
      const [f1, f2, f3] = [1000, 2000, 3000].map((n) => fuelOf(name, fn, [n])) as [bigint, bigint, bigint];
      assert.ok(f2 - f1 > 0n, `${name}: fuel(2n) - fuel(n) = ${f2 - f1}`);
      assert.equal(f3 - f2, f2 - f1, `${name}: fuel(3n) - fuel(2n) = ${f3 - f2}, fuel(2n) - fuel(n) = ${f2 - f1}`);
    }
  });

  it('is the same on every run, and meter() gives the same bytes every time', () => {
    for (const [name, fn, args] of [['hash-loop', 'hash', [12345]], ['post-mvp', 'collatz', [27]], ['post-mvp', 'eh', [20]]] as const) {
      const runs = [0, 1, 2].map(() => fuelOf(name, fn, [...args]));
      assert.deepEqual(runs, [runs[0], runs[0], runs[0]], `${name}.${fn}`);
      assert.deepEqual(meter(fixture(name)).bytes, meter(fixture(name)).bytes);
    }
  });

  it('charges bulk memory ops by size: one unit per 4 bytes filled or copied', () => {
    const extra = fuelOf('post-mvp', 'bulk', [2000]) - fuelOf('post-mvp', 'bulk', [1000]);
    assert.equal(extra, 2n * (1000n / 4n)); // memory.fill and memory.copy of 1000 more bytes each
  });

  it('does not charge a bulk op that traps out of bounds: the trap stays a spec trap on a small budget', () => {
    const ran = runMetered(meter(fixture('post-mvp')), 'bulk', [0x7fffffff], 1000n);
    assert.equal(ran.error?.message, 'memory access out of bounds');
    assert.ok(ran.left >= 0n, `left ${ran.left}: reported as running out of fuel`);
  });
});

describe('meter: behaviour is unchanged', () => {
  it('every post-MVP export answers as it does unmetered, and traps the same way with fuel left', () => {
    const bytes = fixture('post-mvp');
    const metered = meter(bytes);
    const calls: [string, unknown[]][] = [
      ['simd', [100]], ['bulk', [0]], ['bulk', [1000]], ['bulk', [32256]], ['bulk', [32257]], ['bulk', [0x7fffffff]],
      ['tables', [5]], ['tail', [100_001]], ['tail_indirect', [9]], ['collatz', [27]], ['eh', [10]],
      ['convert', [1e10]], ['convert', [-3.7]], ['convert', [NaN]],
    ];
    for (const [fn, args] of calls) {
      const plain = runPlain(bytes, fn, args);
      const ran = runMetered(metered, fn, args);
      assert.deepEqual({ value: ran.value, error: ran.error }, { value: plain.value, error: plain.error }, `${fn}(${args.join(', ')})`);
      assert.ok(ran.left >= 0n, `${fn}(${args.join(', ')}) ran out of fuel`);
    }
    assert.equal(runMetered(metered, 'collatz', [27]).value, 111);
    assert.equal(runMetered(metered, 'bulk', [32257]).error?.message, 'memory access out of bounds');
  });

  it('traps and stack overflows stay what they were, with fuel left', () => {
    for (const [name, fn, args] of [['trap', 'div', [1, 0]], ['trap', 'unreachable', []], ['trap', 'oob', []], ['stack-overflow', 'recurse', [0]]] as const) {
      const ran = runMetered(meter(fixture(name)), fn, [...args]);
      assert.deepEqual(ran.error, runPlain(fixture(name), fn, [...args]).error, `${name}.${fn}`);
      assert.ok(ran.error !== undefined && ran.left >= 0n, `${name}.${fn}: left ${ran.left}`);
    }
  });

  it('a start function that initialises memory runs through the start export, before the call', () => {
    const metered = meter(fixture('start-init'));
    assert.equal(runPlain(fixture('start-init'), 'sum', []).value, 5559680);
    assert.equal(runMetered(metered, 'sum', []).value, 5559680);
    // Not called, the start function has not run: the rewrite really moved it out of instantiation.
    assert.equal((instantiateMetered(metered, LARGE_FUEL).exports.sum as Fn)(), 0);
  });

  it("keeps the module's globals, exports and custom sections, and adds the fuel global after all globals", () => {
    const bytes = wat(`(module
      (import "env" "base" (global $base i32))
      (global $g (mut i32) (i32.const 40))
      (func $add (export "add") (result i32) (global.set $g (i32.add (global.get $g) (global.get $base))) (global.get $g))
      (export "g" (global $g)))`, true);
    const metered = meter(bytes);
    const module = new WebAssembly.Module(metered.bytes);
    assert.deepEqual(WebAssembly.Module.exports(module), [
      { name: 'add', kind: 'function' }, { name: 'g', kind: 'global' }, { name: FUEL_EXPORT, kind: 'global' },
    ]);
    assert.deepEqual(WebAssembly.Module.customSections(module, 'name'), WebAssembly.Module.customSections(new WebAssembly.Module(bytes), 'name'));
    const instance = new WebAssembly.Instance(module, { env: { base: 2 } });
    setFuel(instance, 100n);
    assert.equal((instance.exports.add as Fn)(), 42);
    assert.equal((instance.exports.g as WebAssembly.Global).value, 42);
  });
});

describe('meter: sections and names', () => {
  it('composes with capMemory and exposeMemory: meter once per module, cap and expose per tier after', () => {
    for (const name of ['start-init', 'hash-loop', 'grow-loop']) {
      const metered = meter(fixture(name));
      const { bytes, exportName } = exposeMemory(capMemory(metered.bytes, 3));
      assert.equal(exportName, '__wess_memory');
      assert.deepEqual(inspect(bytes).memories.map((m) => m.max_pages), [3]);
      const fn = inspect(fixture(name)).exports[0]?.name ?? '';
      const args = name === 'hash-loop' ? [100] : [];
      const ran = runMetered({ ...metered, bytes }, fn, args);
      assert.equal(ran.error, undefined, `${name}: ${ran.error?.message}`);
      assert.equal(ran.value, name === 'grow-loop' ? 3 : runPlain(fixture(name), fn, args).value);
    }
  });

  it('creates the global and export sections, in section order, when the module has none', () => {
    for (const bytes of [fixture('no-exports'), Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)]) {
      const metered = meter(bytes);
      const ids = readSections(metered.bytes).map((s) => s.id);
      assert.ok(ids.includes(SectionId.global) && ids.includes(SectionId.export), `sections ${ids.join(', ')}`);
      const module = new WebAssembly.Module(metered.bytes);
      assert.deepEqual(WebAssembly.Module.exports(module), [{ name: FUEL_EXPORT, kind: 'global' }]);
      assert.equal(metered.startExport, null);
    }
  });

  it('picks other names when the module already exports __wess_fuel or __wess_start', () => {
    const bytes = wat(`(module
      (global (export "__wess_fuel") i32 (i32.const 5))
      (func $init (export "__wess_start"))
      (func (export "__wess_fuel_1") (result i32) (i32.const 7))
      (start $init))`);
    const metered = meter(bytes);
    assert.equal(metered.fuelExport, '__wess_fuel_2');
    assert.equal(metered.startExport, '__wess_start_1');
    const instance = instantiateMetered(metered, 50n);
    assert.equal((instance.exports.__wess_fuel as WebAssembly.Global).value, 5);
    assert.equal((instance.exports.__wess_fuel_1 as Fn)(), 7);
    assert.equal(runMetered(metered, '__wess_fuel_1', [], 50n).used, 2n); // the start function and the call, 1 each
  });

  it('refuses, as INVALID_WASM, what would name the added globals or export an invalid start', () => {
    const module = (sections: number[]): Uint8Array => Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections);
    const type = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00]; // () -> ()
    const typeI32 = [0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00]; // (i32) -> ()
    const func = [0x03, 0x02, 0x01, 0x00];
    const body = (...code: number[]): number[] => [0x0a, code.length + 3, 0x01, code.length + 1, 0x00, ...code];
    // global.get 0 with no globals: unknown global, which the fuel global would otherwise answer
    throwsCode(() => meter(module([...type, ...func, ...body(0x23, 0x00, 0x1a, 0x0b)])), 'INVALID_WASM', /unknown global 0/);
    // export of global 0 with no globals
    throwsCode(() => meter(module([0x07, 0x05, 0x01, 0x01, 0x67, 0x03, 0x00])), 'INVALID_WASM', /unknown global 0/);
    // a start function that takes a parameter: invalid as start, valid as an export
    throwsCode(() => meter(module([...typeI32, ...func, 0x08, 0x01, 0x00, ...body(0x0b)])), 'INVALID_WASM', /take and return nothing/);
    // a body with bytes after its final end
    throwsCode(() => meter(module([...type, ...func, ...body(0x0b, 0x01)])), 'INVALID_WASM', /after its final end/);
    for (const bad of [[...type, ...func, ...body(0x23, 0x00, 0x1a, 0x0b)], [...typeI32, ...func, 0x08, 0x01, 0x00, ...body(0x0b)]]) {
      assert.equal(WebAssembly.validate(module(bad)), false, 'the engine refuses these too');
    }
  });

  it('a module cut short anywhere is refused with INVALID_WASM or stays invalid metered', () => {
    for (const name of ['post-mvp', 'start-init', 'hash-loop', 'trap', 'multi-value']) {
      const full = fixture(name);
      for (let length = 0; length < full.length; length++) {
        const prefix = full.slice(0, length);
        let out: Uint8Array;
        try {
          out = meter(prefix).bytes;
        } catch (err) {
          assert.equal((err as { code?: unknown }).code, 'INVALID_WASM', `${name} cut at ${length}: ${String(err)}`);
          continue;
        }
        assert.equal(WebAssembly.validate(out), WebAssembly.validate(prefix), `${name} cut at ${length}`);
      }
    }
  });
});

/** The opcode bytes each branch hint of `bytes` points at, as "function:opcode". */
function hintedOpcodes(bytes: Uint8Array): string[] {
  const sections = readSections(bytes);
  const bodies: number[] = [];
  const code = sections.find((s) => s.id === SectionId.code);
  if (code !== undefined) {
    const r = sectionReader(bytes, code);
    for (let n = r.u32('count'); n > 0; n--) {
      const size = r.u32('size');
      bodies.push(r.pos);
      r.skip(size, 'body');
    }
  }
  const hints = sections.find((s) => s.id === SectionId.custom && sectionReader(bytes, s).name('name') === 'metadata.code.branch_hint');
  assert.ok(hints !== undefined, 'no branch hint section');
  const r = new ByteReader(bytes, hints.start, hints.end);
  r.name('name');
  const found: string[] = [];
  for (let funcs = r.u32('count'); funcs > 0; funcs--) {
    const func = r.u32('function');
    for (let items = r.u32('count'); items > 0; items--) {
      const offset = r.u32('offset');
      r.skip(r.u32('size'), 'hint');
      found.push(`${func}:0x${(bytes[(bodies[func] ?? 0) + offset] ?? 0).toString(16)}`);
    }
  }
  return found;
}

describe('meter: code metadata', () => {
  it('moves branch hints with the br_if and if they point at', () => {
    const bytes = wat(`(module
      (func (export "f") (param i32) (result i32) (local i32)
        (loop $l
          local.get 0
          i32.eqz
          (@metadata.code.branch_hint "\\01") br_if $l)
        local.get 0
        (@metadata.code.branch_hint "\\00") if (result i32) i32.const 1 else i32.const 2 end))`);
    assert.deepEqual(hintedOpcodes(bytes), ['0:0xd', '0:0x4']);
    const metered = meter(bytes);
    assert.deepEqual(hintedOpcodes(metered.bytes), ['0:0xd', '0:0x4']);
    assert.equal(runMetered(metered, 'f', [3]).value, 1);
  });
});
