import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, startRunner, type TestRunner } from './helper.js';

/*
 * Background lanes (jobs) never hold every worker: with two workers, two background calls that spin
 * until their deadline run one at a time, and a foreground call sent meanwhile starts at once.
 */

const add = fixture('add');
const loop = fixture('loop-forever');
const TIMEOUT_MS = 1500;

describe('background lanes', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({ size: 2 }, [add, loop]);
  });
  after(async () => t.runner.close(1000));

  it('hold at most all workers but one, and never delay a foreground call', async () => {
    const spin = () => t.runner.run({ sha256: loop.sha256, fn: 'spin', params: [], args: [], lane: 'job:a', background: true, timeoutMs: TIMEOUT_MS }).then(
      () => 'answered',
      (err: { code?: string }) => err.code,
    );
    const spins = [spin(), spin()];
    // The first spin is running; the second waits for the background lane's one worker.
    const deadline = Date.now() + 5000;
    while (t.runner.stats().inFlight < 1) {
      if (Date.now() > deadline) assert.fail('no background call started');
      await new Promise((resolve) => setImmediate(resolve));
    }
    const started = Date.now();
    const answer = await t.runner.run({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [2, 3], lane: 'steady' });
    assert.deepEqual(answer.results, [5]);
    assert.ok(Date.now() - started < TIMEOUT_MS, 'the foreground call waited for a background call to end');
    assert.equal(t.runner.stats().inFlight, 1, 'both background calls were let onto workers at once');
    // The first spin ran to its deadline; the second never started, waiting for the background lanes'
    // one worker (UNAVAILABLE: a job retries it).
    assert.deepEqual(await Promise.all(spins), ['EXECUTION_TIMEOUT', 'UNAVAILABLE']);
  });
});
