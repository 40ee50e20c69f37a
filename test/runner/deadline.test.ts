import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunCall } from '../../src/runner/pool.js';
import { within } from '../within.js';
import { fixture, metricValue, rejection, startRunner, type TestRunner } from './helper.js';

/*
 * Outcomes, not timings: a runaway call answers EXECUTION_TIMEOUT and its worker is replaced, and healthy
 * calls beside it are answered before it. Where healthy calls must beat a runaway one, the runaway gets
 * SPIN_MS: a second and a half against the milliseconds they take, so a busy machine cannot reverse the
 * order. How late past its deadline a call is stopped is measured by bench/scenarios/storm.ts.
 */

const TIMEOUT_MS = 300;
const SPIN_MS = 1500;
/** A bound for what must be cut short, far from the deadlines here and from "never". */
const STOPPED_MS = 10_000;
/** Long enough for any test here on a loaded machine; a deadline that never fires fails them at this. */
const BOUNDED = { timeout: 30_000 };
const add = fixture('add');
const loop = fixture('loop-forever');
const startLoop = fixture('start-loop');

const addCall = (i: number, lane?: string): RunCall => ({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 1], lane });

describe('runner: deadlines', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({ size: 2, timeoutMs: TIMEOUT_MS }, [add, loop, startLoop]);
    // Warm the cache so every call below is dispatched in the turn it is made.
    await Promise.all([add, loop, startLoop].map((m) => t.runner.compile(m.sha256, m.bytes)));
  });
  after(() => t.runner.close());

  it('stops an infinite loop while 200 healthy calls made beside it all succeed', BOUNDED, async () => {
    const spin = rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [], timeoutMs: SPIN_MS }));
    const healthy = Promise.all(Array.from({ length: 200 }, (_, i) => t.runner.run(addCall(i))));
    // The calls batched behind the loop are taken back long before its deadline.
    const first = await Promise.race([healthy.then(() => 'healthy'), spin.then(() => 'spin')]);
    assert.equal(first, 'healthy');
    const err = await within(spin, STOPPED_MS, 'the looping call');
    assert.equal(err.code, 'EXECUTION_TIMEOUT');
    assert.equal(err.message, `call to "spin" did not finish within ${SPIN_MS} ms; the guest was stopped`);
    const answers = await healthy;
    answers.forEach((a, i) => assert.deepEqual(a.results, [i + 1]));
    assert.equal(await metricValue(t.metrics, 'wess_worker_restarts_total', { reason: 'timeout' }), 1);
  });

  it('keeps its size after a kill and answers', async () => {
    assert.equal(t.runner.stats().workers, 2);
    const answer = await t.runner.run(addCall(41));
    assert.deepEqual(answer.results, [42]);
  });

  it('keeps answering another tenant\'s healthy calls made while a guest spins', BOUNDED, async () => {
    let spinAnswered = false;
    const spin = rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [], timeoutMs: SPIN_MS })).finally(() => (spinAnswered = true));
    // Issued in later turns, while one worker is stuck: they go to the other one.
    for (let i = 0; i < 20; i++) {
      const answer = await t.runner.run(addCall(i, 'neighbour'));
      assert.deepEqual(answer.results, [i + 1]);
    }
    assert.equal(spinAnswered, false, 'the healthy calls were answered while the guest still spun');
    assert.equal((await spin).code, 'EXECUTION_TIMEOUT');
  });

  it('covers instantiation: a start function that loops times out', BOUNDED, async () => {
    const call = { sha256: startLoop.sha256, fn: 'noop', params: [], args: [], lane: 'starts' };
    const err = await within(rejection(t.runner.run(call)), STOPPED_MS, 'the looping start function');
    assert.equal(err.code, 'EXECUTION_TIMEOUT');
    assert.match(err.message, new RegExp(`within ${TIMEOUT_MS} ms`));
  });

  it('confines a tenant that timed out to its share: its loops take two threads, and another tenant\'s calls beside them are not held up', BOUNDED, async () => {
    // The default lane timed out above; its share is the pool size, two, however many loops it sends.
    const spins = Array.from({ length: 3 }, () => rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [], timeoutMs: SPIN_MS })));
    let spinsAnswered = 0;
    for (const spin of spins) void spin.then(() => spinsAnswered++);
    const healthy = await Promise.all(Array.from({ length: 100 }, (_, i) => t.runner.run(addCall(i, 'neighbour'))));
    assert.equal(spinsAnswered, 0, 'healthy calls did not wait for a loop');
    healthy.forEach((a, i) => assert.deepEqual(a.results, [i + 1]));
    const spun = await Promise.all(spins);
    // Two ran to their deadline; the one queued behind them in their own lane never started.
    assert.deepEqual(spun.map((e) => e.code), Array(3).fill('EXECUTION_TIMEOUT'));
    assert.equal(spun.filter((e) => /did not finish/.test(e.message)).length, 2, spun.map((e) => e.message).join('; '));
    assert.equal(spun.filter((e) => /did not start.*held all 2 of its concurrent runs/.test(e.message)).length, 1, spun.map((e) => e.message).join('; '));
    assert.equal(t.runner.stats().workers, 2);
    assert.deepEqual((await t.runner.run(addCall(1))).results, [2]);
  });
});

describe('runner: a call\'s own deadline', () => {
  let t: TestRunner;
  before(async () => {
    // The runner's deadline is a minute: a call stopped within seconds was stopped by its own.
    t = await startRunner({ size: 2, timeoutMs: 60_000 }, [loop]);
    await t.runner.compile(loop.sha256, loop.bytes);
  });
  after(() => t.runner.close(0));

  it('takes a per-call timeout', BOUNDED, async () => {
    const err = await within(rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [], timeoutMs: TIMEOUT_MS })), STOPPED_MS, 'the call with its own deadline');
    assert.equal(err.code, 'EXECUTION_TIMEOUT');
    assert.match(err.message, new RegExp(`within ${TIMEOUT_MS} ms`));
    assert.equal(await metricValue(t.metrics, 'wess_worker_restarts_total', { reason: 'timeout' }), 1);
  });
});

describe('runner: a deadline counts from acceptance', () => {
  it('a call that starts late is stopped at its deadline, not a whole timeout after it started', BOUNDED, async () => {
    // One worker, so one tenant runs one call at a time. The first loop holds the slot for 2 s; the
    // second starts then and must be stopped at its 3 s deadline, not at 2 + 3 = 5 s; only then can
    // the add (deadline 4.5 s) start in time. Counted from the start of a run, the second loop would
    // still hold the slot at 4.5 s and the add would never run.
    const t = await startRunner({ size: 1, timeoutMs: 60_000 }, [add, loop]);
    await Promise.all([add, loop].map((m) => t.runner.compile(m.sha256, m.bytes)));
    const spin = (timeoutMs: number) => rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [], timeoutMs }));
    const [first, second, answer] = await Promise.all([spin(2000), spin(3000), t.runner.run({ ...addCall(41), timeoutMs: 4500 })]);
    assert.match(first.message, /did not finish within 2000 ms/);
    assert.match(second.message, /did not finish within 3000 ms/, 'the second loop started, and was stopped at its deadline');
    assert.deepEqual(answer.results, [42]);
    assert.ok(answer.queuedMs >= 2000, `the add waited ${answer.queuedMs} ms behind both loops`);
    await t.runner.close(0);
  });
});
