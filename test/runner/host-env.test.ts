import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { HostEnv, readAsString } from '../../src/runner/host-env.js';
import { TraceLogger } from '../../src/runner/trace-log.js';
import { checkPolicy, inspect, moduleKind } from '../../src/wasm/binary.js';
import { throwsCode } from '../wasm/helpers.js';
import { fromWat } from '../wasi/helpers.js';

const check = (imports: string): void => checkPolicy(inspect(fromWat(`(module ${imports} (memory (export "memory") 1))`)), { maxMemoryPages: 4096 });

/** One page of memory holding the AssemblyScript string `text` at 20 (its rtSize at 16); returns the memory. */
function memoryWith(text: string, rtSize = text.length * 2): WebAssembly.Memory {
  const memory = new WebAssembly.Memory({ initial: 1 });
  new DataView(memory.buffer).setUint32(16, rtSize, true);
  Buffer.from(memory.buffer).write(text, 20, 'utf16le');
  return memory;
}

describe('AssemblyScript env imports: policy', () => {
  it('admits env.abort, env.trace and env.seed with their signatures, and the module stays "functions"', () => {
    const imports = `(import "env" "abort" (func (param i32 i32 i32 i32)))
      (import "env" "trace" (func (param i32 i32 f64 f64 f64 f64 f64)))
      (import "env" "seed" (func (result f64)))`;
    check(imports);
    assert.equal(moduleKind(inspect(fromWat(`(module ${imports})`))), 'functions');
  });

  it('refuses env.abort with another signature, saying which one it must have', () => {
    throwsCode(() => check('(import "env" "abort" (func (param i32 i32 i32)))'), 'FORBIDDEN_IMPORT',
      /function env\.abort with signature \(i32, i32, i32\) -> \(\), but Wess provides it \(as AssemblyScript declares it\) as \(i32, i32, i32, i32\) -> \(\)/);
  });

  it('refuses any other env import, and env.seed as a global', () => {
    throwsCode(() => check('(import "env" "memcpy" (func (param i32 i32 i32) (result i32)))'), 'FORBIDDEN_IMPORT', /function env\.memcpy/);
    throwsCode(() => check('(import "env" "seed" (global f64))'), 'FORBIDDEN_IMPORT', /global env\.seed/);
  });
});

describe('AssemblyScript env imports: reading guest strings', () => {
  it('decodes UTF-16LE by the length in the header; a null pointer is null', () => {
    assert.equal(readAsString(memoryWith('héllo ✓'), 20, 100), 'héllo ✓');
    assert.equal(readAsString(memoryWith('x'), 0, 100), null);
  });

  it('clips a long string and one whose header claims more than memory holds, and says so', () => {
    assert.equal(readAsString(memoryWith('abcdef'), 20, 3), 'abc… (6 characters)');
    assert.equal(readAsString(memoryWith('ab', 0xffffffff), 20, 3), `ab\0… (2147483647 characters)`);
    const past = memoryWith('');
    new DataView(past.buffer).setUint32(65530, 0xfffffff0, true);
    Buffer.from(past.buffer).write('z', 65534, 'utf16le');
    assert.equal(readAsString(past, 65534, 100), 'z… (says 4294967280 bytes, past the end of memory)');
  });

  it('a pointer outside memory, or without room for a header, is named, never read', () => {
    const memory = memoryWith('x');
    assert.equal(readAsString(memory, 65537, 100), '<string at 65537: outside memory of 65536 bytes>');
    assert.equal(readAsString(memory, 2, 100), '<string at 2: outside memory of 65536 bytes>');
    assert.equal(readAsString(memory, -1, 100), '<string at 4294967295: outside memory of 65536 bytes>');
    assert.equal(readAsString(undefined, 20, 100), '<string at 20: memory not readable yet>');
  });

  it('abort throws WASM_TRAP with message and place; trace formats n of its numbers; seed is an f64', () => {
    const lines: string[] = [];
    const env = new HostEnv((line) => lines.push(line));
    env.bind(memoryWith('oops'));
    const fns = env.imports.env as Record<string, (...args: number[]) => unknown>;
    throwsCode(() => fns.abort?.(20, 0, 3, 5), 'WASM_TRAP', /^abort: oops at <unknown file>:3:5$/);
    throwsCode(() => fns.abort?.(0, 0, 0, 0), 'WASM_TRAP', /^abort$/);
    fns.trace?.(20, 2, 1, 2.5, 3, 4, 5);
    fns.trace?.(20, 99, 1, 2, 3, 4, 5);
    fns.trace?.(0, -1, 1, 2, 3, 4, 5);
    assert.deepEqual(lines, ['trace: oops 1, 2.5', 'trace: oops 1, 2, 3, 4, 5', 'trace: null']);
    assert.equal(typeof fns.seed?.(), 'number');
  });

  it('an abort before the memory is bound (in the start function) says its message cannot be read yet', () => {
    const fns = new HostEnv(() => {}).imports.env as Record<string, (...args: number[]) => unknown>;
    throwsCode(() => fns.abort?.(20, 40, 7, 9), 'WASM_TRAP', /^abort while the module was starting \(its message cannot be read before instantiation ends\) at line 7:9$/);
  });
});

describe('trace lines in the log', () => {
  it('one entry per call, at most 20 a second; the entries dropped are counted on the next one', () => {
    const entries: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { entries.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
    let now = 1_000_000;
    const log = new TraceLogger(pino(sink), () => now);
    const call = { requestId: 'req-1', sha256: 'abc', fn: 'f' };
    for (let i = 0; i < 25; i++) log.write(call, { lines: [`trace: ${i}`], more: i === 0 ? 3 : 0 });
    assert.equal(entries.length, 20);
    assert.deepEqual([entries[0]?.request_id, entries[0]?.trace, entries[0]?.more_lines], ['req-1', ['trace: 0'], 3]);
    now += 1000;
    log.write(call, { lines: ['trace: later'], more: 0 });
    assert.equal(entries.length, 21);
    assert.equal(entries[20]?.suppressed_entries, 5);
  });
});
