import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, fromWat, startRunner, type TestRunner } from './helper.js';

const add = fixture('add'); // no memory
const growMemory = fixture('grow-memory'); // memory 1, not exported
const exported = fromWat(`(module
  (memory (export "mem") 2)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);

describe('runner: memory pages', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({ maxMemoryBytes: 8 * 65536 }, [add, growMemory, exported]);
  });
  after(() => t.runner.close());

  const run = (sha256: string, fn: string, args: number[]) =>
    t.runner.run({ sha256, fn, params: args.map(() => 'i32' as const), args });

  it('reports the size the memory has when the call ends, after a grow', async () => {
    const grown = await run(growMemory.sha256, 'grow', [2]);
    assert.deepEqual(grown.results, [1]);
    assert.equal(grown.memoryPages, 3);
  });

  it('starts every call from the declared size (a fresh instance)', async () => {
    const answers = await Promise.all([run(growMemory.sha256, 'grow', [5]), run(growMemory.sha256, 'size', [])]);
    assert.deepEqual(answers.map((a) => a.memoryPages), [6, 1]);
  });

  it('reads a memory the module exports under its own name', async () => {
    assert.equal((await run(exported.sha256, 'grow', [1])).memoryPages, 3);
  });

  it('is null for a module without memory', async () => {
    const answer = await run(add.sha256, 'add', [1, 2]);
    assert.equal(answer.memoryPages, null);
    assert.equal('wasi' in answer, false);
  });
});
