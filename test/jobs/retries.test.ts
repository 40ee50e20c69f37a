import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backoff } from '../../src/jobs/backoff.js';
import { listen, startApp, upload, type TestApp } from '../helper.js';
import { client, waitForJob } from './client.js';

describe('backoff', () => {
  const delay = (attempt: number) => Date.parse(backoff(attempt, 1000, 8000, 0));

  test('doubles per attempt up to the cap, times a factor in [0.5, 1.5)', (t) => {
    const random = t.mock.method(Math, 'random', () => 0);
    assert.deepEqual([1, 2, 3, 4, 5, 9].map(delay), [500, 1000, 2000, 4000, 4000, 4000]);
    random.mock.mockImplementation(() => 0.999);
    assert.deepEqual([1, 2, 3, 4, 5].map(delay), [1499, 2998, 5996, 11992, 11992]);
  });

  test('jitter: retries of the same attempt spread out instead of going in step', () => {
    const delays = new Set(Array.from({ length: 20 }, () => delay(3)));
    assert.ok(delays.size > 1, 'every retry of attempt 3 waited the same');
    for (const d of delays) assert.ok(d >= 2000 && d < 6000, `${d} ms is outside [0.5, 1.5) × 4000`);
  });
});

describe('jobs.retry_codes', () => {
  let t: TestApp;
  before(async () => {
    // A trap made retryable, with a backoff long enough to see the job wait for its second attempt.
    t = await startApp({ jobs: { retry_codes: ['WASM_TRAP'], retry_base: 2000, retry_max: 2000, poll: 100 } });
  });
  after(async () => t.close());

  test('an error named in jobs.retry_codes is retried after a backoff, and the job is dead after max_attempts', async () => {
    const call = client(await listen(t.app));
    const trap = (await upload(t.app, 'trap')).id;
    const res = await call('POST', `/modules/${trap}/jobs`, { function: 'div', args: [1, 0], max_attempts: 2 });
    const waiting = await waitForJob(call, res.body.id, (job) => job.attempts >= 1 && job.status !== 'running');
    assert.equal(waiting.status, 'queued', `not waiting for a retry: ${JSON.stringify(waiting)}`);
    assert.equal(waiting.error.code, 'WASM_TRAP');
    // The trap ends the run at once; the retry waits retry_base × [0.5, 1.5) after it.
    assert.ok(Date.parse(waiting.next_attempt_at) - Date.parse(waiting.started_at) >= 1000, `retried at ${waiting.next_attempt_at}, started ${waiting.started_at}`);
    const dead = await waitForJob(call, res.body.id);
    assert.equal(dead.status, 'dead');
    assert.equal(dead.attempts, 2);
    assert.equal(dead.error.code, 'WASM_TRAP');
  });
});
