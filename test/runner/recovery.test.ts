import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Runner, RunCall } from '../../src/runner/pool.js';
import { fixture, fromWat, metricValue, rejection, startRunner } from './helper.js';

const add = fixture('add');
const loops = fromWat(`(module (func (export "spin") (loop $l (br $l))))`);
const busy = fixture('busy');

const addCall = (i: number): RunCall => ({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 1] });

/** Test-only view of the pool behind the facade, to kill a worker the way a crash would. */
const threadsOf = (runner: Runner) => (runner as unknown as { pool: { threads: { terminate(): Promise<number> }[] } }).pool.threads;

describe('runner: waiting and recovery', () => {
  it('answers UNAVAILABLE to a call that could not start within twice its timeout', async () => {
    // One worker, held by a loop with a 2 s deadline of its own: a call with the runner's 500 ms queued
    // behind it cannot start before 2 s, past its wait limit of 2 × 500 ms. A busy machine only makes it
    // wait longer.
    const t = await startRunner({ size: 1, timeoutMs: 500 }, [add, loops]);
    await Promise.all([add, loops].map((m) => t.runner.compile(m.sha256, m.bytes)));
    const spin = rejection(t.runner.run({ sha256: loops.sha256, fn: 'spin', params: [], args: [], timeoutMs: 2000 }));
    const late = rejection(t.runner.run(addCall(1)));
    const err = await late;
    assert.equal(err.code, 'UNAVAILABLE');
    assert.match(err.message, /waited|too long/);
    assert.equal((await spin).code, 'EXECUTION_TIMEOUT');
    assert.deepEqual((await t.runner.run(addCall(1))).results, [2]);
    await t.runner.close();
  });

  it('re-runs the calls of a worker that died under them and keeps its size', async () => {
    const t = await startRunner({ size: 1, timeoutMs: 60_000 }, [add, busy]);
    await Promise.all([add, busy].map((m) => t.runner.compile(m.sha256, m.bytes)));
    const slow = t.runner.run({ sha256: busy.sha256, fn: 'busy', params: ['i32'], args: [1_000_000_000] }).then(
      () => 'finished',
      (e: { code: string }) => e.code,
    );
    const healthy = Promise.all(Array.from({ length: 50 }, (_, i) => t.runner.run(addCall(i))));
    await new Promise<void>((resolve) => setImmediate(resolve)); // the batch has been posted
    await threadsOf(t.runner)[0]?.terminate();
    (await healthy).forEach((a, i) => assert.deepEqual(a.results, [i + 1]));
    // Whether the worker had started the slow call when it died decides its answer.
    const answer = await slow;
    assert.ok(answer === 'INTERNAL' || answer === 'finished', answer);
    if (answer === 'INTERNAL') assert.equal(await metricValue(t.metrics, 'wess_worker_restarts_total', { reason: 'crash' }), 1);
    assert.equal(t.runner.stats().workers, 1);
    await t.runner.close(0);
  });
});
