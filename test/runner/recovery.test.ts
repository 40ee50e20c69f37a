import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Runner, RunCall } from '../../src/runner/pool.js';
import { fixture, fromWat, metricValue, rejection, startRunner } from './helper.js';

const add = fixture('add');
const loops = fromWat(`(module
  (func (export "spinA") (loop $l (br $l)))
  (func (export "spinB") (loop $l (br $l))))`);
const busy = fixture('busy');

const addCall = (i: number): RunCall => ({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 1] });

/** Test-only view of the pool behind the facade, to kill a worker the way a crash would. */
const threadsOf = (runner: Runner) => (runner as unknown as { pool: { threads: { terminate(): Promise<number> }[] } }).pool.threads;

describe('runner: waiting and recovery', () => {
  it('answers UNAVAILABLE to a call that could not start within twice its timeout', async () => {
    // 500 ms leaves room for a worker respawn on a loaded machine before spinB's own wait limit (2 × 500 ms);
    // the late call cannot start before spinB ends (≥ 1000 ms), so it always passes its wait limit.
    const t = await startRunner({ size: 1, timeoutMs: 500 }, [add, loops]);
    await Promise.all([add, loops].map((m) => t.runner.compile(m.sha256, m.bytes)));
    const spinA = rejection(t.runner.run({ sha256: loops.sha256, fn: 'spinA', params: [], args: [] }));
    const spinB = rejection(t.runner.run({ sha256: loops.sha256, fn: 'spinB', params: [], args: [] }));
    const late = rejection(t.runner.run(addCall(1)));
    assert.equal((await spinA).code, 'EXECUTION_TIMEOUT');
    assert.equal((await spinB).code, 'EXECUTION_TIMEOUT');
    const err = await late;
    assert.equal(err.code, 'UNAVAILABLE');
    assert.match(err.message, /waited|too long/);
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
