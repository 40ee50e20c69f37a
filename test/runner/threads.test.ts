import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { createPool, emptyBundle, ReadyThreads, terminateThread, workerExecArgv } from '../../src/runner/threads.js';
import { fixture, metricValue, rejection, startRunner } from './helper.js';

const add = fixture('add');
const loop = fixture('loop-forever');

describe('runner: threads for long calls', () => {
  it('starts threads while long calls hold the workers, up to max_threads, and retires them when idle', async () => {
    const t = await startRunner({ size: 1, maxThreads: 4, longCallMs: 20, extraThreadIdleMs: 300, timeoutMs: 1500 }, [add, loop]);
    await Promise.all([add, loop].map((m) => t.runner.compile(m.sha256, m.bytes)));
    assert.equal(await metricValue(t.metrics, 'wess_pool_threads'), 2, 'one worker and the spare');
    // Two tenants each hold a thread with a loop: both long, so two more threads may start.
    const spins = ['a', 'b'].map((lane) => rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [], lane })));
    let answered = 0;
    while (t.runner.stats().inFlight < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    const quick = await Promise.all([1, 2, 3].map((i) => t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 1], lane: 'c' }).finally(() => answered++)));
    assert.deepEqual(quick.map((r) => r.results), [[2], [3], [4]]);
    assert.equal(answered, 3);
    const grown = await metricValue(t.metrics, 'wess_pool_threads');
    assert.ok(grown >= 3 && grown <= 4, `wess_pool_threads ${grown} while two long calls ran (max_threads 4)`);
    for (const err of await Promise.all(spins)) assert.equal(err.code, 'EXECUTION_TIMEOUT');
    // Idle for 300 ms, the threads beyond one worker and the spare retire (Piscina's idleTimeout).
    const deadline = Date.now() + 10_000;
    while ((await metricValue(t.metrics, 'wess_pool_threads')) > 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await metricValue(t.metrics, 'wess_pool_threads'), 2);
    assert.deepEqual((await t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [1, 1] })).results, [2]);
    await t.runner.close();
  });

  it('never starts more than max_threads, however many tenants hold long calls', async () => {
    const t = await startRunner({ size: 1, maxThreads: 3, longCallMs: 20, timeoutMs: 800 }, [loop]);
    await t.runner.compile(loop.sha256, loop.bytes);
    const spins = ['a', 'b', 'c', 'd', 'e'].map((lane) => rejection(t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [], lane })));
    const most = { threads: 0 };
    const watch = setInterval(() => void metricValue(t.metrics, 'wess_pool_threads').then((n) => (most.threads = Math.max(most.threads, n))), 20);
    const codes = (await Promise.all(spins)).map((e) => e.code);
    clearInterval(watch);
    assert.ok(most.threads <= 3, `${most.threads} threads`);
    // Three ran to their deadline; the other two could not start before theirs: the pool was full.
    assert.deepEqual(codes.filter((c) => c === 'EXECUTION_TIMEOUT').length + codes.filter((c) => c === 'UNAVAILABLE').length, 5, codes.join());
    assert.ok(codes.filter((c) => c === 'UNAVAILABLE').length >= 2, codes.join());
    await t.runner.close();
  });
});

describe('runner: how a thread loads the worker module', () => {
  it('by import(): require() of it throws in a thread with the pool\'s flags, so Piscina never loads it through require(esm)', async () => {
    const t = await startRunner({ size: 1 }, [add]);
    try {
      const pool = (t.runner as unknown as { pool: { options: { execArgv?: string[] } } }).pool;
      assert.deepEqual(pool.options.execArgv, workerExecArgv());
      // What Piscina's worker does first with its file (piscina/dist/worker.js getHandler), in a thread with those flags.
      const file = new URL('../../src/runner/worker.js', import.meta.url).pathname;
      const probe = new Worker(
        `const { parentPort } = require('node:worker_threads');
         try { require(${JSON.stringify(file)}); parentPort.postMessage('loaded by require'); } catch (e) { parentPort.postMessage(e.code); }`,
        { eval: true, execArgv: pool.options.execArgv },
      );
      const [answer] = (await once(probe, 'message')) as [string];
      await probe.terminate();
      assert.equal(answer, 'ERR_REQUIRE_ESM');
      assert.deepEqual((await t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [2, 3] })).results, [5], 'the workers still start, by import()');
    } finally {
      await t.runner.close();
    }
  });
});

describe('runner: worker flags', () => {
  it('keep the parent\'s flags a thread takes, drop the V8 ones it refuses (they apply to every thread already), and add the one against require(esm)', () => {
    assert.deepEqual(
      workerExecArgv(['--max-semi-space-size=32', '--enable-source-maps', '--max-old-space-size=512', '--cpu-prof']),
      ['--enable-source-maps', '--cpu-prof', '--no-experimental-require-module'],
    );
    assert.deepEqual(workerExecArgv(['--no-experimental-require-module']), ['--no-experimental-require-module']);
  });
});

describe('runner: ready threads', () => {
  const quiet = createLogger('silent');
  const settle = async (check: () => boolean): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  it('counts a thread once it is up and no longer once it has gone, also when its thread id reads -1', async () => {
    const pool = createPool(1, 2, 60_000, createMetrics(), quiet);
    const ready = new ReadyThreads(pool, () => {});
    await Promise.all(pool.threads.map(() => pool.run(emptyBundle())));
    await settle(() => ready.count === 2);
    assert.equal(ready.count, 2, 'one worker and the spare');
    // Terminated from outside (a runaway guest's thread): Piscina replaces it.
    let destroyed = 0;
    pool.on('workerDestroy', () => destroyed++);
    assert.ok(terminateThread(pool, pool.threads[0]!.threadId));
    await settle(() => destroyed === 1);
    assert.equal(destroyed, 1);
    assert.equal(ready.count, 1, 'the terminated thread is no longer counted');
    await settle(() => ready.count === 2);
    assert.equal(ready.count, 2, 'its replacement is, once up');
    assert.ok(ready.count <= pool.threads.length);
    await pool.destroy();
    assert.equal(ready.count, 0, 'a destroyed pool has no ready thread');
  });
});
