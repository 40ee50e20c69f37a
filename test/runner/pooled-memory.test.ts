import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunCall } from '../../src/runner/pool.js';
import { fromWat, rejection, startRunner, type TestRunner } from './helper.js';

/*
 * A WASI module's memory is an import the worker fills (wasm/binary.ts importMemory, runner/memories.ts),
 * reused after being zeroed: a call must still find what a fresh instance finds, whatever the calls
 * before it on that thread did to the memory (wrote, trapped, grew it).
 */

const FD_WRITE = '(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))';
// Counts its runs at address 100 (zero in a fresh memory) and prints the count and the data byte at 16,
// which it then overwrites: a fresh instance always prints "1a".
const counter = fromWat(`(module ${FD_WRITE}
  (memory (export "memory") 1 4)
  (data (i32.const 16) "a")
  (func (export "_start")
    (i32.store (i32.const 100) (i32.add (i32.load (i32.const 100)) (i32.const 1)))
    (i32.store8 (i32.const 32) (i32.add (i32.const 48) (i32.load (i32.const 100))))
    (i32.store8 (i32.const 33) (i32.load8_u (i32.const 16)))
    (i32.store8 (i32.const 16) (i32.const 122))
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`);
// The same memory limits (so the same kept memories): scribbles at 100, optionally grows, then traps.
const scribbler = (grow: boolean) => fromWat(`(module ${FD_WRITE}
  (memory (export "memory") 1 4)
  (func (export "_start")
    (i32.store (i32.const 100) (i32.const 9))
    ${grow ? '(drop (memory.grow (i32.const 1)))' : ''}
    (unreachable)))`);
const trapper = scribbler(false);
const grower = scribbler(true);

const start = (sha256: string): RunCall => ({ sha256, fn: '_start', params: [], args: [], wasi: { args: ['p'], env: [], stdin: new Uint8Array(0), maxOutputBytes: 64 } });

describe('runner: pooled WASI memories', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({ size: 1 }, [counter, trapper, grower]);
  });
  after(() => t.runner.close());

  const count = async (): Promise<void> => {
    const answer = await t.runner.run(start(counter.sha256));
    assert.equal(new TextDecoder().decode(answer.wasi?.stdout), '1a');
    assert.equal(answer.memoryPages, 1);
  };

  it('gives every call a memory as fresh as a new one, however often the module runs', async () => {
    for (let i = 0; i < 10; i++) await count();
    // At once too: calls queued together run one after another on a thread, in one bundle.
    await Promise.all(Array.from({ length: 20 }, count));
  });

  it('zeroes the memory of a call that trapped, and drops one that grew', async () => {
    for (const module of [trapper, grower, trapper]) {
      assert.equal((await rejection(t.runner.run(start(module.sha256)))).code, 'WASM_TRAP');
      await count();
    }
  });

  it('does the same for metered calls', async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await t.runner.run({ ...start(counter.sha256), fuel: 1_000_000 });
      assert.equal(new TextDecoder().decode(answer.wasi?.stdout), '1a');
      assert.ok((answer.fuelUsed ?? 0) > 0);
    }
  });
});
