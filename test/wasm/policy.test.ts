import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capMemory, checkPolicy, effectiveMemory, inspect } from '../../src/wasm/binary.js';
import type { ModuleInfo } from '../../src/wasm/types.js';
import { fixture, throwsCode } from './helpers.js';

const policy = { maxMemoryPages: 4096 };
const check = (name: string): void => checkPolicy(inspect(fixture(name)), policy);

describe('checkPolicy', () => {
  it('accepts modules without imports and with at most one plain memory under the cap', () => {
    for (const name of ['add', 'grow-memory', 'memory-max', 'trap', 'no-exports', 'v128-param', 'start-loop']) check(name);
  });

  it('refuses imports with FORBIDDEN_IMPORT naming module.name and kind', () => {
    const err = throwsCode(() => check('imports-fn'), 'FORBIDDEN_IMPORT', /imports function env\.log; Wess provides no imports/);
    assert.deepEqual(err.details, { imports: [{ module: 'env', name: 'log', kind: 'function' }] });
  });

  it('lists several imports, shortened after five', () => {
    const info: ModuleInfo = {
      exports: [], memories: [], hasStart: false,
      imports: Array.from({ length: 7 }, (_, i) => ({ module: 'env', name: `g${i}`, kind: 'global' as const })),
    };
    throwsCode(() => checkPolicy(info, policy), 'FORBIDDEN_IMPORT', /global env\.g0, .*global env\.g4, and 2 more;/);
  });

  it('refuses shared memory, memory64 and more than one memory with MEMORY_LIMIT', () => {
    throwsCode(() => check('shared-memory'), 'MEMORY_LIMIT', /shared memory.*only unshared memory is allowed/);
    throwsCode(() => check('memory64'), 'MEMORY_LIMIT', /64-bit memory.*only 32-bit memory is allowed/);
    throwsCode(() => check('two-memories'), 'MEMORY_LIMIT', /defines 2 memories; at most 1 is allowed/);
  });

  it('refuses an initial memory over the cap, in pages and bytes', () => {
    const err = throwsCode(
      () => check('big-memory'),
      'MEMORY_LIMIT',
      /initial memory of 5000 pages \(327680000 bytes\); at most 4096 pages \(268435456 bytes\) is allowed/,
    );
    assert.deepEqual(err.details, {
      requested_pages: 5000, requested_bytes: 327680000, allowed_pages: 4096, allowed_bytes: 268435456,
    });
    checkPolicy(inspect(fixture('big-memory')), { maxMemoryPages: 5000 });
  });
});

describe('effectiveMemory', () => {
  it('is null without memory', () => {
    assert.equal(effectiveMemory(inspect(fixture('add')), 4096), null);
  });
  it('uses the cap when no maximum is declared', () => {
    assert.deepEqual(effectiveMemory(inspect(fixture('grow-memory')), 4096), { min_pages: 1, max_pages: 4096 });
  });
  it('keeps a declared maximum below the cap and lowers one above it', () => {
    const info = inspect(fixture('memory-max'));
    assert.deepEqual(effectiveMemory(info, 4096), { min_pages: 1, max_pages: 10 });
    assert.deepEqual(effectiveMemory(info, 4), { min_pages: 1, max_pages: 4 });
  });
  it('matches what capMemory writes', () => {
    for (const name of ['grow-memory', 'memory-max', 'single-export']) {
      const bytes = fixture(name);
      assert.equal(inspect(capMemory(bytes, 5)).memories[0]?.max_pages, effectiveMemory(inspect(bytes), 5)?.max_pages);
    }
  });
});
