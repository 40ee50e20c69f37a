import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { capMemory, importMemory, inspect, POOLED_MEMORY_MODULE, POOLED_MEMORY_NAME } from '../../src/wasm/binary.js';

const WASI_DIR = fileURLToPath(new URL('../../../test/fixtures/wasi/', import.meta.url));
const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const section = (id: number, content: number[]): number[] => [id, content.length, ...content];
const module = (...sections: number[][]): Uint8Array => Uint8Array.from([...PREAMBLE, ...sections.flat()]);
const name = (text: string): number[] => [text.length, ...Array.from(text, (ch) => ch.charCodeAt(0))];

// (func) type; one function; its export "f"; an empty body.
const TYPE = section(1, [1, 0x60, 0, 0]);
const FUNC = section(3, [1, 0]);
const EXPORT_F = section(7, [1, ...name('f'), 0, 0]);
const CODE = section(10, [1, 2, 0, 0x0b]);
// A data segment writing "hi" at 16.
const DATA = section(11, [1, 0, 0x41, 16, 0x0b, 2, 0x68, 0x69]);

/** Instantiates `bytes` on a new memory of `limits` and returns the memory. */
function instantiate(bytes: Uint8Array, limits: { initial: number; maximum: number }, imports: WebAssembly.Imports = {}): WebAssembly.Memory {
  const memory = new WebAssembly.Memory(limits);
  new WebAssembly.Instance(new WebAssembly.Module(bytes), { ...imports, [POOLED_MEMORY_MODULE]: { [POOLED_MEMORY_NAME]: memory } });
  return memory;
}

describe('importMemory', () => {
  it('turns the defined memory into an import with the same limits, adding an import section where there is none', () => {
    const original = module(TYPE, FUNC, section(5, [1, 0x01, 2, 5]), EXPORT_F, CODE, DATA);
    const rewritten = importMemory(original);
    assert.ok(rewritten);
    assert.deepEqual(rewritten.memory, { initial: 2, maximum: 5 });
    const info = inspect(rewritten.bytes);
    assert.deepEqual(info.memories, []);
    assert.deepEqual(WebAssembly.Module.imports(new WebAssembly.Module(rewritten.bytes)), [{ module: POOLED_MEMORY_MODULE, name: POOLED_MEMORY_NAME, kind: 'memory' }]);
    assert.deepEqual(info.exports, inspect(original).exports);
    const memory = instantiate(rewritten.bytes, rewritten.memory);
    assert.equal(new TextDecoder().decode(new Uint8Array(memory.buffer, 16, 2)), 'hi', 'the data segment lands in the given memory');
  });

  it('appends to an existing import section; function indices do not move', () => {
    // (import "m" "g" (func)), then the defined function f calls import 0.
    const imports = section(2, [1, ...name('m'), ...name('g'), 0, 0]);
    const code = section(10, [1, 4, 0, 0x10, 0, 0x0b]);
    const original = module(TYPE, imports, FUNC, section(5, [1, 0x01, 1, 1]), section(7, [1, ...name('f'), 0, 1]), code);
    const rewritten = importMemory(original);
    assert.ok(rewritten);
    assert.deepEqual(WebAssembly.Module.imports(new WebAssembly.Module(rewritten.bytes)).map((i) => `${i.module}.${i.name}:${i.kind}`), ['m.g:function', `${POOLED_MEMORY_MODULE}.${POOLED_MEMORY_NAME}:memory`]);
    let called = 0;
    const memory = new WebAssembly.Memory(rewritten.memory);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(rewritten.bytes), { m: { g: () => void called++ }, [POOLED_MEMORY_MODULE]: { [POOLED_MEMORY_NAME]: memory } });
    (instance.exports['f'] as () => void)();
    assert.equal(called, 1);
  });

  it('leaves alone what it does not pool: no memory, no maximum, a shared memory, an imported one, an import from its module already', () => {
    assert.equal(importMemory(module(TYPE, FUNC, EXPORT_F, CODE)), null);
    assert.equal(importMemory(module(section(5, [1, 0x00, 1]))), null);
    assert.equal(importMemory(module(section(5, [1, 0x03, 1, 2]))), null);
    assert.equal(importMemory(module(section(2, [1, ...name('m'), ...name('mem'), 2, 0x00, 1]))), null);
    assert.equal(importMemory(module(TYPE, section(2, [1, ...name(POOLED_MEMORY_MODULE), ...name('g'), 0, 0]), section(5, [1, 0x01, 1, 1]))), null);
  });

  it('rewrites every WASI fixture, capped as the runner caps it, into a module that runs on a given memory', () => {
    for (const file of readdirSync(WASI_DIR).filter((f) => f.endsWith('.wasm'))) {
      const capped = capMemory(new Uint8Array(readFileSync(join(WASI_DIR, file))), 256);
      const rewritten = importMemory(capped);
      if (inspect(capped).memories.length === 0) {
        assert.equal(rewritten, null, file);
        continue;
      }
      assert.ok(rewritten, file);
      const declared = inspect(capped).memories[0];
      assert.deepEqual(rewritten.memory, { initial: declared?.min_pages, maximum: declared?.max_pages }, file);
      const wasi = Object.fromEntries(WebAssembly.Module.imports(new WebAssembly.Module(capped)).filter((i) => i.kind === 'function').map((i) => [i.name, () => 0]));
      instantiate(rewritten.bytes, rewritten.memory, { wasi_snapshot_preview1: wasi });
    }
  });
});
