import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunCall } from '../../src/runner/pool.js';
import { fixture, rejection, startRunner } from './helper.js';

const add = fixture('add');
const loop = fixture('loop-forever');
const busy = fixture('busy');

const addCall = (a: number): RunCall => ({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [a, 1] });

describe('runner: lifecycle', () => {
  it('answers UNAVAILABLE at once when more calls wait than the queue holds', async () => {
    const t = await startRunner({ size: 1, queueLimit: 5 }, [add]);
    await t.runner.compile(add.sha256, add.bytes);
    const calls = Array.from({ length: 10 }, (_, i) => t.runner.run(addCall(i)).then((r) => r.results[0], (e: { code: string }) => e.code));
    assert.deepEqual(await Promise.all(calls), [1, 2, 3, 4, 5, 'UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
    await t.runner.close();
  });

  it('reports readiness and pool stats', async () => {
    const t = await startRunner({ size: 2 }, [add]);
    assert.equal(t.runner.ready, true);
    const stats = t.runner.stats();
    assert.equal(stats.workers, 2);
    assert.equal(stats.queued, 0);
    assert.equal(stats.inFlight, 0);
    assert.ok(stats.utilization >= 0 && stats.utilization <= 1);
    await t.runner.close();
    assert.equal(t.runner.ready, false);
  });

  it('lets in-flight calls finish on close, then refuses new ones with UNAVAILABLE', async () => {
    const t = await startRunner({ size: 2, timeoutMs: 5000 }, [add, busy]);
    await t.runner.compile(busy.sha256, busy.bytes);
    const running = [
      ...Array.from({ length: 4 }, () => t.runner.run({ sha256: busy.sha256, fn: 'busy', params: ['i32'], args: [20_000_000] })),
      ...Array.from({ length: 20 }, (_, i) => t.runner.run(addCall(i))),
    ];
    const closed = t.runner.close(10_000);
    assert.equal(t.runner.ready, false);
    assert.equal((await rejection(t.runner.run(addCall(1)))).code, 'UNAVAILABLE');
    const answers = await Promise.all(running);
    answers.slice(0, 4).forEach((a) => assert.deepEqual(a.results, [0]));
    answers.slice(4).forEach((a, i) => assert.deepEqual(a.results, [i + 1]));
    await closed;
    assert.equal((await rejection(t.runner.run(addCall(1)))).code, 'UNAVAILABLE');
    assert.equal(t.runner.stats().workers, 0);
  });

  it('stops what is still running when the grace period ends', async () => {
    const t = await startRunner({ size: 1, timeoutMs: 60_000 }, [loop]);
    await t.runner.compile(loop.sha256, loop.bytes);
    const spin = rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [] }));
    await t.runner.close(50);
    assert.equal((await spin).code, 'UNAVAILABLE');
  });
});
