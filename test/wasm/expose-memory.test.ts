import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { capMemory, EXPOSED_MEMORY_NAME, exposeMemory, inspect } from '../../src/wasm/binary.js';
import { conformanceCorpus } from '../conformance-corpus.js';
import { fixture, throwsCode } from './helpers.js';

const WASI_DIR = fileURLToPath(new URL('../../../test/fixtures/wasi/', import.meta.url));
const corpus = conformanceCorpus();
const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const section = (id: number, content: number[]): number[] => [id, content.length, ...content];
const module = (...sections: number[][]): Uint8Array => Uint8Array.from([...PREAMBLE, ...sections.flat()]);
const exportsOf = (bytes: Uint8Array): WebAssembly.ModuleExportDescriptor[] => WebAssembly.Module.exports(new WebAssembly.Module(bytes));

/**
 * Checks what the runner relies on: the result compiles, the original exports are unchanged and in order,
 * a new export (if any) is last and is memory 0 of a working instance. Returns the export name.
 */
function checkExposed(original: Uint8Array, instantiate = true): string | null {
  const { bytes, exportName } = exposeMemory(original);
  const before = exportsOf(original);
  const after = exportsOf(bytes);
  if (exportName === null) {
    assert.equal(bytes, original);
    return null;
  }
  const existing = before.find((e) => e.name === exportName);
  if (existing !== undefined) {
    assert.equal(existing.kind, 'memory');
    assert.equal(bytes, original, 'an exported memory needs no copy');
  } else {
    assert.deepEqual(after.slice(0, -1), before);
    assert.deepEqual(after.at(-1), { name: exportName, kind: 'memory' });
    assert.deepEqual(inspect(bytes).exports, inspect(original).exports);
  }
  if (instantiate) {
    const memory = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports[exportName];
    assert.ok(memory instanceof WebAssembly.Memory);
    assert.equal(memory.buffer.byteLength, (inspect(original).memories[0]?.min_pages ?? 0) * 65536);
  }
  return exportName;
}

describe('exposeMemory', () => {
  it('adds __wess_memory to a module whose memory is not exported, and the instance exports it', () => {
    assert.equal(checkExposed(fixture('grow-memory')), EXPOSED_MEMORY_NAME);
    const { bytes } = exposeMemory(fixture('grow-memory'));
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
    (exports.grow as (n: number) => number)(3);
    assert.equal((exports[EXPOSED_MEMORY_NAME] as WebAssembly.Memory).buffer.byteLength, 4 * 65536, 'the export is the live memory');
  });

  it('returns the input and the existing name when memory 0 is exported', () => {
    assert.equal(checkExposed(fixture('single-export')), 'memory');
  });

  it('returns the input and null without a memory', () => {
    for (const name of ['add', 'no-exports', 'multi-value']) assert.equal(checkExposed(fixture(name)), null);
  });

  it('leaves the WASI programs, which export "memory", alone', () => {
    for (const file of readdirSync(WASI_DIR).filter((f) => f.endsWith('.wasm'))) {
      const bytes = new Uint8Array(readFileSync(`${WASI_DIR}${file}`));
      const { bytes: out, exportName } = exposeMemory(bytes);
      assert.equal(exportName, 'memory', file);
      assert.equal(out, bytes);
    }
  });

  it('composes with capMemory, as the runner calls it', () => {
    for (const name of ['grow-memory', 'memory-max', 'trap', 'single-export']) {
      const capped = capMemory(fixture(name), 5);
      assert.ok(checkExposed(capped) !== null);
      const max = inspect(exposeMemory(capped).bytes).memories[0]?.max_pages;
      assert.equal(max, Math.min(inspect(fixture(name)).memories[0]?.max_pages ?? 5, 5), name);
    }
  });

  it('adds an export section in section order when the module has none', () => {
    // types, function, memory, code (with a custom section before code): the export section must go
    // after memory and before code.
    const custom = section(0, [1, 0x63, 0xaa]);
    const withCode = module(section(1, [1, 0x60, 0, 0]), section(3, [1, 0]), section(5, [1, 0x00, 2]), custom, section(10, [1, 2, 0, 0x0b]));
    assert.equal(checkExposed(withCode), EXPOSED_MEMORY_NAME);
    const memoryOnly = module(section(5, [1, 0x00, 1]));
    assert.equal(checkExposed(memoryOnly), EXPOSED_MEMORY_NAME);
    const withData = module(section(5, [1, 0x00, 1]), section(11, [1, 0x00, 0x41, 0x00, 0x0b, 1, 0x2a]));
    assert.equal(checkExposed(withData), EXPOSED_MEMORY_NAME);
  });

  it('picks another name when a function is already called __wess_memory', () => {
    const name = Array.from(EXPOSED_MEMORY_NAME, (c) => c.charCodeAt(0));
    const bytes = module(
      section(1, [1, 0x60, 0, 0]), section(3, [1, 0]), section(5, [1, 0x00, 1]),
      section(7, [1, name.length, ...name, 0x00, 0x00]), section(10, [1, 2, 0, 0x0b]),
    );
    assert.equal(checkExposed(bytes), `${EXPOSED_MEMORY_NAME}_1`);
  });

  it('refuses malformed input with INVALID_WASM', () => {
    throwsCode(() => exposeMemory(Uint8Array.from([0, 0x61, 0x73])), 'INVALID_WASM');
    throwsCode(() => exposeMemory(module([5, 9, 1, 0x00])), 'INVALID_WASM');
  });

  it('keeps every conformance module compiling with its exports unchanged and memory 0 last', corpus.options, () => {
    const dir = join(corpus.dir(), 'modules');
    const files = readdirSync(dir).filter((f) => f.endsWith('.wasm'));
    const counts = { added: 0, exported: 0, none: 0 };
    for (const file of files) {
      const bytes = new Uint8Array(readFileSync(join(dir, file)));
      try {
        const before = exportsOf(bytes).length;
        const name = checkExposed(capMemory(bytes, 4096));
        if (name === null) counts.none++;
        else if (exportsOf(exposeMemory(bytes).bytes).length > before) counts.added++;
        else counts.exported++;
      } catch (err) {
        assert.fail(`${file}: ${String(err)}`);
      }
    }
    assert.equal(files.length, 540);
    assert.equal(counts.added + counts.exported + counts.none, 540);
    assert.ok(counts.added > 0 && counts.exported > 0, JSON.stringify(counts));
  });
});
