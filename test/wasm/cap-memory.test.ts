import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capMemory, inspect } from '../../src/wasm/binary.js';
import { fixture, throwsCode } from './helpers.js';

type Exports = Record<string, (...args: number[]) => number>;

function instantiate(bytes: Uint8Array): Exports {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
}

/** The bytes outside the memory section (id 5), which capMemory must leave alone. */
function outsideMemorySection(bytes: Uint8Array): Uint8Array[] {
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos] ?? -1;
    let size = 0;
    let shift = 0;
    let p = pos + 1;
    for (;;) {
      const b = bytes[p++] ?? 0;
      size += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    if (id === 5) return [bytes.subarray(0, pos), bytes.subarray(p + size)];
    pos = p + size;
  }
  throw new Error('no memory section');
}

describe('capMemory', () => {
  it('lowers a declared maximum: memory-max (1..10 pages) capped at 4 cannot grow past 4', () => {
    const original = fixture('memory-max');
    assert.equal(instantiate(original).grow?.(5), 1, 'uncapped, growing to 6 pages works');

    const capped = capMemory(original, 4);
    assert.deepEqual(inspect(capped).memories, [{ min_pages: 1, max_pages: 4, shared: false, memory64: false }]);
    const run = instantiate(capped);
    assert.equal(run.grow20?.(), -1);
    assert.equal(run.grow?.(4), -1, '1 + 4 pages is over the cap');
    assert.equal(run.grow?.(3), 1, '1 + 3 pages fits');
    assert.equal(run.grow?.(1), -1);
  });

  it('adds a maximum when none is declared: grow-memory capped at 4', () => {
    const original = fixture('grow-memory');
    const capped = capMemory(original, 4);
    assert.deepEqual(inspect(capped).memories, [{ min_pages: 1, max_pages: 4, shared: false, memory64: false }]);
    const run = instantiate(capped);
    assert.equal(run.grow?.(3), 1);
    assert.equal(run.size?.(), 4);
    assert.equal(run.grow?.(1), -1);
    assert.equal(run.size?.(), 4);
  });

  it('grow-loop stops at the cap', () => {
    assert.equal(instantiate(capMemory(fixture('grow-loop'), 8)).grow_all?.(), 8);
  });

  it('re-encodes LEB lengths when the maximum needs more bytes', () => {
    const original = fixture('grow-memory');
    const capped = capMemory(original, 4096);
    assert.equal(capped.length, original.length + 2, 'flags unchanged in size, max 4096 is a 2-byte LEB');
    assert.equal(inspect(capped).memories[0]?.max_pages, 4096);
    assert.ok(WebAssembly.validate(capped));
  });

  it('touches no other section and does not modify its input', () => {
    for (const name of ['grow-memory', 'memory-max', 'single-export', 'trap']) {
      const original = fixture(name);
      const before = original.slice();
      const capped = capMemory(original, 1);
      assert.deepEqual(original, before);
      assert.deepEqual(outsideMemorySection(capped), outsideMemorySection(original), name);
      assert.ok(WebAssembly.validate(capped), name);
    }
  });

  it('returns the input itself when there is nothing to change', () => {
    const add = fixture('add');
    assert.equal(capMemory(add, 4), add, 'no memory section');
    const max = fixture('memory-max');
    assert.equal(capMemory(max, 10), max, 'declared maximum equal to the cap');
    assert.equal(capMemory(max, 4096), max, 'declared maximum below the cap');
  });

  it('keeps the shared and memory64 flags', () => {
    const shared = capMemory(fixture('shared-memory'), 1);
    assert.deepEqual(inspect(shared).memories, [{ min_pages: 1, max_pages: 1, shared: true, memory64: false }]);
    assert.ok(WebAssembly.validate(shared));
    const wide = capMemory(fixture('memory64'), 1);
    assert.deepEqual(inspect(wide).memories, [{ min_pages: 1, max_pages: 1, shared: false, memory64: true }]);
  });

  it('caps every memory of a multi-memory module', () => {
    const capped = capMemory(fixture('two-memories'), 2);
    assert.deepEqual(inspect(capped).memories.map((m) => m.max_pages), [2, 2]);
  });

  it('refuses a module whose minimum is already above the cap', () => {
    throwsCode(() => capMemory(fixture('big-memory'), 4096), 'MEMORY_LIMIT', /5000 pages, above the cap of 4096 pages/);
  });

  it('refuses malformed input with INVALID_WASM and a bad cap with RangeError', () => {
    throwsCode(() => capMemory(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 9, 1]), 4), 'INVALID_WASM');
    assert.throws(() => capMemory(fixture('add'), -1), RangeError);
    assert.throws(() => capMemory(fixture('add'), 1.5), RangeError);
  });
});
