import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { RunCall } from '../../src/runner/pool.js';
import { fixture, metricValue, rejection, startRunner, type TestRunner } from './helper.js';

const TIMEOUT_MS = 300;
const add = fixture('add');
const loop = fixture('loop-forever');
const startLoop = fixture('start-loop');

const addCall = (i: number): RunCall => ({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 1] });

describe('runner: deadlines', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({ size: 2, timeoutMs: TIMEOUT_MS }, [add, loop, startLoop]);
    // Warm the cache so every call below is dispatched in the turn it is made.
    await Promise.all([add, loop, startLoop].map((m) => t.runner.compile(m.sha256, m.bytes)));
  });
  after(() => t.runner.close());

  it('stops an infinite loop while 200 healthy calls made beside it all succeed', async () => {
    const started = performance.now();
    const spin = rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [] }));
    const healthy = Promise.all(Array.from({ length: 200 }, (_, i) => t.runner.run(addCall(i))));
    // The calls batched behind the loop are taken back long before its deadline.
    const first = await Promise.race([healthy.then(() => 'healthy'), spin.then(() => 'spin')]);
    assert.equal(first, 'healthy');
    const err = await spin;
    const elapsed = performance.now() - started;
    assert.equal(err.code, 'EXECUTION_TIMEOUT');
    assert.equal(err.message, `call to "spin" did not finish within ${TIMEOUT_MS} ms; the guest was stopped`);
    assert.ok(elapsed < TIMEOUT_MS + 1000, `took ${elapsed} ms`);
    const answers = await healthy;
    answers.forEach((a, i) => assert.deepEqual(a.results, [i + 1]));
    assert.equal(await metricValue(t.metrics, 'wess_worker_restarts_total', { reason: 'timeout' }), 1);
  });

  it('keeps its size after a kill and answers at once', async () => {
    assert.equal(t.runner.stats().workers, 2);
    const answer = await t.runner.run(addCall(41));
    assert.deepEqual(answer.results, [42]);
  });

  it('keeps answering healthy calls made while a guest spins', async () => {
    const spin = rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [] }));
    // Issued in later turns, while one worker is stuck: they go to the other one.
    for (let i = 0; i < 20; i++) {
      const answer = await t.runner.run(addCall(i));
      assert.deepEqual(answer.results, [i + 1]);
    }
    assert.equal((await spin).code, 'EXECUTION_TIMEOUT');
  });

  it('covers instantiation: a start function that loops times out', async () => {
    const started = performance.now();
    const err = await rejection(t.runner.run({ sha256: startLoop.sha256, fn: 'noop', params: [], args: [] }));
    assert.equal(err.code, 'EXECUTION_TIMEOUT');
    assert.ok(performance.now() - started < TIMEOUT_MS + 1000);
  });

  it('takes a per-call timeout', async () => {
    const started = performance.now();
    const err = await rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [], timeoutMs: 50 }));
    assert.equal(err.code, 'EXECUTION_TIMEOUT');
    assert.match(err.message, /within 50 ms/);
    assert.ok(performance.now() - started < TIMEOUT_MS);
  });

  it('isolates a function that timed out: healthy calls beside several of its loops are not held up', async () => {
    // "spin" timed out above, so its calls now run one per batch on at most one of the two workers.
    const started = performance.now();
    const spins = Array.from({ length: 3 }, () => rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [] })));
    const healthy = await Promise.all(Array.from({ length: 100 }, (_, i) => t.runner.run(addCall(i))));
    assert.ok(performance.now() - started < TIMEOUT_MS, 'healthy calls did not wait for a loop');
    healthy.forEach((a, i) => assert.deepEqual(a.results, [i + 1]));
    const codes = (await Promise.all(spins)).map((e) => e.code);
    // Queued one after another, a loop that could not start within 2 × timeout answers UNAVAILABLE.
    assert.equal(codes[0], 'EXECUTION_TIMEOUT');
    assert.ok(codes.every((c) => c === 'EXECUTION_TIMEOUT' || c === 'UNAVAILABLE'), codes.join());
    assert.equal(t.runner.stats().workers, 2);
    assert.deepEqual((await t.runner.run(addCall(1))).results, [2]);
  });
});
