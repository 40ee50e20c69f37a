import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, fromWat, metricValue, rejection, startRunner, type TestRunner } from './helper.js';

const add = fixture('add');
const multi = fixture('multi-value');
const counter = fromWat(`(module
  (global $n (mut i32) (i32.const 0))
  (func (export "next") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (global.get $n)))`);
const memoryCounter = fromWat(`(module
  (memory 1)
  (func (export "bump") (result i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (i32.load (i32.const 0))))`);
// No state at all: its calls share one instance per worker (wasm/state.ts); a trap must leave it usable.
const divide = fromWat(`(module
  (global $one i32 (i32.const 1))
  (func (export "div") (param i32 i32) (result i32) (i32.mul (global.get $one) (i32.div_s (local.get 0) (local.get 1))))
  (func $deep (export "deep") (param i32) (result i32) (i32.add (i32.const 1) (call $deep (local.get 0)))))`);

describe('runner: calls', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({}, [add, multi, counter, memoryCounter, divide]);
  });
  after(() => t.runner.close());

  it('runs add and reports where the module came from', async () => {
    const first = await t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [2, 3] });
    assert.deepEqual(first.results, [5]);
    assert.equal(first.compileCached, false);
    assert.ok(first.durationMs >= 0);
    const second = await t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [-1, 1] });
    assert.deepEqual(second.results, [0]);
    assert.equal(second.compileCached, true);
  });

  it('gives 1,000 concurrent calls their own answers', async () => {
    const calls = Array.from({ length: 1000 }, (_, i) =>
      t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 2 * i] }),
    );
    const answers = await Promise.all(calls);
    answers.forEach((answer, i) => assert.deepEqual(answer.results, [3 * i]));
  });

  it('gives every call a fresh instance (globals and memory start over)', async () => {
    const globals = await Promise.all(Array.from({ length: 20 }, () => t.runner.run({ sha256: counter.sha256, fn: 'next', params: [], args: [] })));
    assert.deepEqual(globals.map((r) => r.results), Array.from({ length: 20 }, () => [1]));
    const memory = await Promise.all(Array.from({ length: 20 }, () => t.runner.run({ sha256: memoryCounter.sha256, fn: 'bump', params: [], args: [] })));
    assert.deepEqual(memory.map((r) => r.results), Array.from({ length: 20 }, () => [1]));
  });

  it('answers the calls of a stateless module right around its traps and stack overflows', async () => {
    const calls = Array.from({ length: 60 }, (_, i) => {
      if (i % 10 === 3) return rejection(t.runner.run({ sha256: divide.sha256, fn: 'div', params: ['i32', 'i32'], args: [i, 0] })).then((err) => `${err.code}: ${err.message}`);
      if (i % 10 === 7) return rejection(t.runner.run({ sha256: divide.sha256, fn: 'deep', params: ['i32'], args: [i] })).then((err) => `${err.code}: ${err.message}`);
      return t.runner.run({ sha256: divide.sha256, fn: 'div', params: ['i32', 'i32'], args: [i * 6, 3] }).then((r) => r.results[0]);
    });
    const expected = Array.from({ length: 60 }, (_, i) => (i % 10 === 3 ? 'WASM_TRAP: integer divide by zero' : i % 10 === 7 ? 'WASM_TRAP: call stack exhausted' : i * 2));
    assert.deepEqual(await Promise.all(calls), expected);
  });

  it('returns multi-value results as an array', async () => {
    const { results } = await t.runner.run({ sha256: multi.sha256, fn: 'triple', params: [], args: [] });
    assert.deepEqual(results, [-1, 9007199254740993n, 1.5]);
  });

  it('answers UNKNOWN_FUNCTION for a name the module does not export', async () => {
    const err = await rejection(t.runner.run({ sha256: add.sha256, fn: 'sub', params: [], args: [] }));
    assert.equal(err.code, 'UNKNOWN_FUNCTION');
  });

  it('answers INTERNAL when the store has no bytes for the hash', async () => {
    const err = await rejection(t.runner.run({ sha256: 'f'.repeat(64), fn: 'add', params: [], args: [] }));
    assert.equal(err.code, 'INTERNAL');
  });

  it('counts executions by outcome', async () => {
    assert.ok((await metricValue(t.metrics, 'wess_execution_time_count', { outcome: 'ok' })) >= 1000);
  });
});

describe('runner: compile cache', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner();
  });
  after(() => t.runner.close());

  it('compiles a hash once; the second compile is cached', async () => {
    const first = await t.runner.compile(add.sha256, add.bytes);
    const second = await t.runner.compile(add.sha256, add.bytes);
    assert.equal(first.cached, false);
    assert.equal(second.cached, true);
    assert.equal(second.module, first.module);
    assert.equal(await metricValue(t.metrics, 'wess_compiles_total'), 1);
  });

  it('shares one compile between concurrent compiles of the same hash', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => t.runner.compile(multi.sha256, multi.bytes)));
    assert.ok(results.every((r) => r.module === results[0]?.module));
    assert.equal(await metricValue(t.metrics, 'wess_compiles_total'), 2);
  });

  it('uses a module compiled by compile() for run without loading its bytes', async () => {
    const answer = await t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [40, 2] });
    assert.deepEqual(answer.results, [42]);
    assert.equal(answer.compileCached, true);
  });

  it('refuses bytes V8 will not compile with INVALID_WASM and V8 words', async () => {
    const bad = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05]);
    const err = await rejection(t.runner.compile('bad', bad));
    assert.equal(err.code, 'INVALID_WASM');
    assert.match(err.message, /section|length|end/i);
    const notWasm = await rejection(t.runner.compile('junk', new Uint8Array([1, 2, 3, 4])));
    assert.equal(notWasm.code, 'INVALID_WASM');
    assert.match(notWasm.message, /magic/i);
  });
});
