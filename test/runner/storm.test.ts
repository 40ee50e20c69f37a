import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { RunCall } from '../../src/runner/pool.js';
import { fixture, metricValue, rejection, startRunner, type TestRunner } from './helper.js';

/*
 * Issue 6's storm, scaled down: runaway calls, one per timeout, beside a steady stream of healthy ones.
 * Every runaway call must be answered 408 within its timeout + MARGIN_MS of reaching the runner, and
 * must not end later and later as the storm goes on (they used to queue behind the previous kill:
 * 1,023 → 1,482 ms at a 1,000 ms timeout in bench/RESULTS.md). Bounds on answer times, not throughput.
 */

const TIMEOUT_MS = 200;
/**
 * The bench's bound is timeout + 100 ms at the HTTP layer. Here 200: on this 2-core machine shared with
 * other load, single answers came up to ~230 ms late with the fix; without it they end later with each loop.
 */
const MARGIN_MS = 200;
const LOOPS = 8;
const add = fixture('add');
const loop = fixture('loop-forever');

const addCall = (i: number): RunCall => ({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 1] });
const spinCall: RunCall = { sha256: loop.sha256, fn: 'spin', params: [], args: [] };

/** Healthy calls 20 at a time until stopped; every one must succeed (innocent calls on a killed worker are re-run). */
function healthyTraffic(t: TestRunner): { stop(): Promise<number> } {
  let stopped = false;
  const done = (async () => {
    let answered = 0;
    while (!stopped) {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => t.runner.run(addCall(i))));
      answers.forEach((a, i) => assert.deepEqual(a.results, [i + 1]));
      answered += answers.length;
    }
    return answered;
  })();
  return { stop: () => { stopped = true; return done; } };
}

/** Fires LOOPS runaway calls `spacingMs` apart; each one's code and time from call to answer. */
async function storm(t: TestRunner, spacingMs: number): Promise<{ code: string | undefined; ms: number }[]> {
  const ends: Promise<{ code: string | undefined; ms: number }>[] = [];
  for (let k = 0; k < LOOPS; k++) {
    const started = performance.now();
    ends.push(rejection(t.runner.run(spinCall)).then((err) => ({ code: err.code, ms: performance.now() - started })));
    await sleep(spacingMs);
  }
  return Promise.all(ends);
}

describe('runner: a storm of runaway calls', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({ size: 2, timeoutMs: TIMEOUT_MS }, [add, loop]);
    await Promise.all([add, loop].map((m) => t.runner.compile(m.sha256, m.bytes)));
  });
  after(() => t.runner.close(0));

  it('answers each runaway call 408 within timeout + margin while healthy calls run', async () => {
    const healthy = healthyTraffic(t);
    const ends = await storm(t, TIMEOUT_MS + 100);
    const answered = await healthy.stop();
    assert.ok(answered > 0);
    assert.deepEqual(ends.map((e) => e.code), Array(LOOPS).fill('EXECUTION_TIMEOUT'));
    const late = ends.filter((e) => e.ms > TIMEOUT_MS + MARGIN_MS);
    assert.deepEqual(late, [], `answered at ${ends.map((e) => Math.round(e.ms)).join(' ')} ms`);
    assert.equal(await metricValue(t.metrics, 'wess_worker_restarts_total', { reason: 'timeout' }), LOOPS);
    assert.equal(t.runner.stats().workers, 2);
  });

  // Regression (issue 6 storm): with one suspect lane on two workers, a suspect's call started only once
  // the previous one's batch had failed, so at one loop per timeout each ended a little later than the
  // last. Suspects may now also take the spare thread.
  it('keeps the bound when runaway calls come once per timeout (they must not queue behind each other)', async () => {
    const healthy = healthyTraffic(t);
    const ends = await storm(t, TIMEOUT_MS);
    await healthy.stop();
    assert.deepEqual(ends.map((e) => e.code), Array(LOOPS).fill('EXECUTION_TIMEOUT'));
    const late = ends.filter((e) => e.ms > TIMEOUT_MS + MARGIN_MS);
    assert.deepEqual(late, [], `answered at ${ends.map((e) => Math.round(e.ms)).join(' ')} ms`);
  });
});
