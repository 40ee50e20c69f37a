import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Runner, RunCall } from '../../src/runner/pool.js';
import { fixture, fromWat, metricValue, rejection, startRunner } from './helper.js';

const add = fixture('add');
const loops = fromWat(`(module (func (export "spin") (loop $l (br $l))))`);
const busy = fixture('busy');

const addCall = (i: number, lane?: string): RunCall => ({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 1], lane });

/** Test-only view of the pool behind the facade, to kill a worker the way a crash would. */
const threadsOf = (runner: Runner) => (runner as unknown as { pool: { threads: { terminate(): Promise<number> }[] } }).pool.threads;

describe('runner: waiting and recovery', () => {
  it('answers a call that could not start before its deadline: UNAVAILABLE when the pool was full, EXECUTION_TIMEOUT when its own tenant was', async () => {
    // One worker and the spare, at most two threads, each held by a loop of another tenant with a 2 s
    // deadline of its own: a call with the runner's 500 ms cannot start before 2 s. A busy machine only
    // makes it wait longer.
    const t = await startRunner({ size: 1, maxThreads: 2, timeoutMs: 500 }, [add, loops]);
    await Promise.all([add, loops].map((m) => t.runner.compile(m.sha256, m.bytes)));
    const spins = ['a', 'b'].map((lane) => rejection(t.runner.run({ sha256: loops.sha256, fn: 'spin', params: [], args: [], timeoutMs: 2000, lane })));
    while (t.runner.stats().inFlight < 2) await new Promise((resolve) => setImmediate(resolve));
    const [late, own] = await Promise.all([rejection(t.runner.run(addCall(1, 'c'))), rejection(t.runner.run(addCall(1, 'a')))]);
    assert.equal(late.code, 'UNAVAILABLE');
    assert.match(late.message, /waited \d+ ms for a worker without starting; the runner is overloaded/);
    assert.equal(own.code, 'EXECUTION_TIMEOUT', 'tenant a waited on its own loop (its share is the pool size, 1)');
    assert.match(own.message, /did not start within its 500 ms deadline: this tenant's calls held all 1 of its concurrent runs/);
    for (const spin of await Promise.all(spins)) assert.equal(spin.code, 'EXECUTION_TIMEOUT');
    assert.deepEqual((await t.runner.run(addCall(1, 'c'))).results, [2]);
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
