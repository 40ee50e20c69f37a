import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WASI_SIGNATURES } from '../../src/wasi/index.js';
import { checkPolicy, inspect, moduleKind } from '../../src/wasm/binary.js';
import type { ModuleInfo } from '../../src/wasm/types.js';
import { fixture, throwsCode } from '../wasm/helpers.js';
import { WASI_FIXTURES, fromWat, wasiFixture } from './helpers.js';

const policy = { maxMemoryPages: 4096 };
const check = (bytes: Uint8Array): void => checkPolicy(inspect(bytes), policy);

/** A module importing `imports` (WAT import lines) that exports one page of memory as `memoryExport`. */
const withImports = (imports: string, memoryExport: string | null = 'memory'): Uint8Array =>
  fromWat(`(module ${imports} (memory ${memoryExport === null ? '' : `(export "${memoryExport}")`} 1))`);

describe('policy for WASI modules', () => {
  it('accepts every C fixture and calls it a wasi module', () => {
    for (const name of WASI_FIXTURES) {
      const info = inspect(wasiFixture(name));
      checkPolicy(info, policy);
      assert.equal(moduleKind(info), 'wasi', name);
    }
  });

  it('moduleKind is "functions" for a module without WASI imports', () => {
    assert.equal(moduleKind(inspect(fixture('add'))), 'functions');
    assert.equal(moduleKind(inspect(fixture('imports-fn'))), 'functions');
  });

  it('accepts every preview 1 function imported with its signature', () => {
    const lines = Object.entries(WASI_SIGNATURES).map(([name, { params, results }]) =>
      `(import "wasi_snapshot_preview1" "${name}" (func (param ${params.join(' ')}) (result ${results.join(' ')})))`);
    check(withImports(lines.join('\n')));
  });

  it('refuses fd_write with a wrong signature, saying what was expected and what was found', () => {
    const err = throwsCode(
      () => check(withImports('(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32) (result i32)))')),
      'FORBIDDEN_IMPORT',
      /function wasi_snapshot_preview1\.fd_write with signature \(i32, i32\) -> \(i32\), but WASI preview 1 defines it as \(i32, i32, i32, i32\) -> \(i32\)/,
    );
    assert.deepEqual(err.details, {
      imports: [{
        module: 'wasi_snapshot_preview1', name: 'fd_write', kind: 'function',
        expected: '(i32, i32, i32, i32) -> (i32)', found: '(i32, i32) -> (i32)',
      }],
    });
    // A result type difference alone is enough.
    throwsCode(() => check(withImports('(import "wasi_snapshot_preview1" "proc_exit" (func (param i32) (result i32)))')), 'FORBIDDEN_IMPORT', /proc_exit/);
  });

  it('refuses a name preview 1 does not have, including Object.prototype names', () => {
    for (const name of ['fd_frobnicate', 'constructor', 'toString', '__proto__']) {
      throwsCode(
        () => check(withImports(`(import "wasi_snapshot_preview1" "${name}" (func (result i32)))`)),
        'FORBIDDEN_IMPORT',
        new RegExp(`wasi_snapshot_preview1\\.${name}, which is not a WASI preview 1 function`),
      );
    }
  });

  it('refuses anything from wasi_snapshot_preview1 that is not a function, and every other module', () => {
    throwsCode(() => check(fromWat('(module (import "wasi_snapshot_preview1" "memory" (memory 1)) (export "memory" (memory 0)))')),
      'FORBIDDEN_IMPORT', /memory wasi_snapshot_preview1\.memory \(wasi_snapshot_preview1 provides only functions\)/);
    const err = throwsCode(
      () => check(withImports(`(import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
                               (import "env" "log" (func (param i32)))`)),
      'FORBIDDEN_IMPORT',
      /^module imports function env\.log; Wess provides no imports other than wasi_snapshot_preview1 functions and AssemblyScript's env\.abort, env\.trace and env\.seed$/,
    );
    assert.deepEqual(err.details, { imports: [{ module: 'env', name: 'log', kind: 'function' }] });
  });

  it('refuses a WASI module whose memory is not exported as "memory", or that has none', () => {
    const yieldImport = '(import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))';
    throwsCode(() => check(withImports(yieldImport, null)), 'MEMORY_LIMIT',
      /imports wasi_snapshot_preview1 functions but does not export its memory as "memory"/);
    throwsCode(() => check(withImports(yieldImport, 'mem')), 'MEMORY_LIMIT', /does not export its memory as "memory"/);
    throwsCode(() => check(fromWat(`(module ${yieldImport})`)), 'MEMORY_LIMIT', /but defines no memory; WASI needs/);
  });

  it('keeps the memory rules for WASI modules', () => {
    const info: ModuleInfo = {
      exports: [], hasStart: false, memoryExports: [{ name: 'memory', index: 0 }],
      imports: [{ module: 'wasi_snapshot_preview1', name: 'sched_yield', kind: 'function', type: { params: [], results: ['i32'] } }],
      memories: [{ min_pages: 5000, max_pages: null, shared: false, memory64: false }],
    };
    throwsCode(() => checkPolicy(info, policy), 'MEMORY_LIMIT', /initial memory of 5000 pages/);
    throwsCode(() => checkPolicy({ ...info, memories: [{ min_pages: 1, max_pages: 2, shared: true, memory64: false }] }, policy),
      'MEMORY_LIMIT', /shared memory/);
  });
});
