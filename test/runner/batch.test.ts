import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BatchItem } from '../../src/runner/pool.js';
import type { WasmArg } from '../../src/wasm/types.js';
import { fixture, fromWat, rejection, startRunner, tasksCompleted, type TestRunner } from './helper.js';

/**
 * Items taken back from behind a looping one must start elsewhere within twice their timeout or answer
 * UNAVAILABLE: a second keeps that wait far above the milliseconds it takes, however busy the machine.
 */
const TIMEOUT_MS = 1000;
/** A batch's own deadline, apart from the runner's so the message shows which one stopped the item. */
const BATCH_TIMEOUT_MS = 1500;
const add = fixture('add');
const trap = fixture('trap');
const floats = fixture('float-ops');
const growMemory = fixture('grow-memory');
// `f(0)` never returns; any other argument comes straight back. One module per test: a function that
// timed out is a suspect for a while (suspects.ts), and its calls then run one batch at a time.
const loopsOnZero = (name: string) => fromWat(`(module
  (func (export "${name}") (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (loop $l (br $l))))
    (local.get 0)))`);
const loops = loopsOnZero('f');
const loopsAgain = loopsOnZero('g');

/** An item's results, or its error code. */
const answerOf = (item: BatchItem | undefined) => (item === undefined ? 'missing' : item.ok ? item.results[0] : item.code);

describe('runner: batch runs', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({ size: 2, timeoutMs: TIMEOUT_MS }, [add, trap, floats, growMemory, loops, loopsAgain]);
  });
  after(() => t.runner.close());

  it('answers 100 add tuples exactly and in order, in one pool task', async () => {
    await t.runner.compile(add.sha256, add.bytes);
    const tasksBefore = tasksCompleted(t.runner);
    const argsList = Array.from({ length: 100 }, (_, i) => [i, 2 * i - 50]);
    const { items, compileCached } = await t.runner.runBatch({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], argsList });
    assert.equal(compileCached, true);
    assert.equal(items.length, 100);
    items.forEach((item, i) => {
      assert.ok(item.ok);
      assert.deepEqual(item.results, [3 * i - 50]);
      assert.equal(item.memoryPages, null);
      assert.ok(item.durationMs >= 0);
    });
    assert.equal(tasksCompleted(t.runner) - tasksBefore, 1);
  });

  it('says whether the module had to be compiled', async () => {
    const call = { sha256: growMemory.sha256, fn: 'grow', params: ['i32' as const], argsList: [[1], [2]] };
    const first = await t.runner.runBatch(call);
    assert.equal(first.compileCached, false);
    assert.equal((await t.runner.runBatch(call)).compileCached, true);
  });

  it('runs every item on a fresh instance', async () => {
    const { items } = await t.runner.runBatch({ sha256: growMemory.sha256, fn: 'grow', params: ['i32'], argsList: [[1], [2], [3]] });
    assert.deepEqual(items.map(answerOf), [1, 1, 1]);
    assert.deepEqual(items.map((i) => (i.ok ? i.memoryPages : -1)), [2, 3, 4]);
  });

  it('fails only the items that trap', async () => {
    const argsList = Array.from({ length: 20 }, (_, i) => [100, i % 4]);
    const { items } = await t.runner.runBatch({ sha256: trap.sha256, fn: 'div', params: ['i32', 'i32'], argsList });
    items.forEach((item, i) => assert.equal(answerOf(item), i % 4 === 0 ? 'WASM_TRAP' : Math.trunc(100 / (i % 4))));
    assert.deepEqual([items[0]?.ok, (items[0] as { code?: string }).code, (items[0] as { message?: string }).message], [false, 'WASM_TRAP', 'integer divide by zero']);
  });

  it('takes a per-batch timeout for each item', async () => {
    // Runs before any worker was killed here: the item taken back from behind the loop needs the other worker up.
    const { items } = await t.runner.runBatch({ sha256: loopsAgain.sha256, fn: 'g', params: ['i32'], argsList: [[0], [7]], timeoutMs: BATCH_TIMEOUT_MS });
    assert.deepEqual(items.map(answerOf), ['EXECUTION_TIMEOUT', 7]);
    assert.match((items[0] as { message: string }).message, new RegExp(`within ${BATCH_TIMEOUT_MS} ms`));
  });

  it('times out a looping item alone while the others answer', async () => {
    // A tenant of its own: the default lane timed out above and would now run one call at a time,
    // its items behind the loop waiting for it.
    const argsList = [[1], [2], [0], [3], [4], [5]];
    const { items } = await t.runner.runBatch({ sha256: loops.sha256, fn: 'f', params: ['i32'], argsList, lane: 'fresh' });
    assert.deepEqual(items.map(answerOf), [1, 2, 'EXECUTION_TIMEOUT', 3, 4, 5]);
    assert.match((items[2] as { message: string }).message, new RegExp(`within ${TIMEOUT_MS} ms`));
    assert.equal(t.runner.stats().workers, 2);
  });

  it('keeps NaN bits per item', async () => {
    const negNaN: WasmArg = { type: 'f64', bits: 0xfff8000000000000n };
    const { items } = await t.runner.runBatch({ sha256: floats.sha256, fn: 'copysign64', params: ['f64', 'f64'], argsList: [[1.5, negNaN], [2.5, 1]] });
    assert.deepEqual(items.map(answerOf), [-1.5, 2.5]);
  });

  it('answers an empty batch with no items', async () => {
    assert.deepEqual((await t.runner.runBatch({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], argsList: [] })).items, []);
  });
});

describe('runner: batch runs and the queue limit', () => {
  it('counts a batch as its item count', async () => {
    const t = await startRunner({ size: 1, queueLimit: 5 }, [add]);
    await t.runner.compile(add.sha256, add.bytes);
    const call = (n: number) => ({ sha256: add.sha256, fn: 'add', params: ['i32' as const, 'i32' as const], argsList: Array.from({ length: n }, (_, i) => [i, 1]) });
    assert.equal((await rejection(t.runner.runBatch(call(6)))).code, 'UNAVAILABLE');
    assert.deepEqual((await t.runner.runBatch(call(5))).items.map(answerOf), [1, 2, 3, 4, 5]);
    // Three single calls wait in this turn; a batch of three more does not fit beside them.
    const singles = Array.from({ length: 3 }, (_, i) => t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 10] }));
    const err = await rejection(t.runner.runBatch(call(3)));
    assert.equal(err.code, 'UNAVAILABLE');
    assert.match(err.message, /3 calls of this tenant are already waiting.*adds 3/);
    assert.deepEqual((await Promise.all(singles)).map((r) => r.results[0]), [10, 11, 12]);
    await t.runner.close();
  });

  it('is per tenant: one tenant\'s full queue leaves room for another\'s calls', async () => {
    const busy = fixture('busy');
    const t = await startRunner({ size: 1, queueLimit: 5 }, [add, busy]);
    await Promise.all([add, busy].map((m) => t.runner.compile(m.sha256, m.bytes)));
    const single = (lane: string, i: number) => t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 1], lane });
    // Tenant a holds its one slot (the pool size) with a long call; five of its calls wait behind it.
    const long = t.runner.run({ sha256: busy.sha256, fn: 'busy', params: ['i32'], args: [1_000_000_000], lane: 'a' });
    await new Promise((resolve) => setImmediate(resolve)); // dispatched: it no longer waits in the queue
    const waiting = Array.from({ length: 5 }, (_, i) => single('a', i));
    assert.equal((await rejection(single('a', 5))).code, 'UNAVAILABLE', 'tenant a\'s queue is full');
    assert.deepEqual((await single('b', 41)).results, [42], 'tenant b is not');
    assert.deepEqual((await Promise.all(waiting)).map((r) => r.results[0]), [1, 2, 3, 4, 5]);
    await long;
    await t.runner.close();
  });
});
