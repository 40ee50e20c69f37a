import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listen, makeKey, startApp, TEST_ADMIN_KEY, upload, type TestApp } from '../helper.js';
import { client, waitForJob, type Call } from './client.js';

describe('jobs through HTTP', () => {
  let t: TestApp;
  let call: Call;
  let base: string;
  const ids: Record<string, string> = {};

  before(async () => {
    t = await startApp({
      runner: { timeout: 1000 },
      jobs: { retry_base: 20, retry_max: 100, lease: 2000, poll: 100, concurrency: 1 },
      tiers: { small: { max_queued_jobs: 1, max_job_timeout: 3000 } },
    });
    for (const name of ['add', 'trap', 'loop-forever']) ids[name] = (await upload(t.app, name)).id;
    base = await listen(t.app);
    call = client(base);
  });
  after(async () => t.close());

  test('a job is accepted with 202 and a Location, then succeeds with the run\'s answer', async () => {
    const res = await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [2, 3] });
    assert.equal(res.status, 202);
    assert.equal(res.body.status, 'queued');
    assert.equal(res.headers.get('location'), `/jobs/${res.body.id}`);
    const job = await waitForJob(call, res.body.id);
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(job.result.results, [5]);
    assert.equal(job.attempts, 1);
    assert.equal(job.module, ids.add);
    assert.equal(job.version, 1);
    for (const field of ['created_at', 'started_at', 'finished_at']) assert.equal(typeof job[field], 'string', field);
  });

  test('job state changes go out on /events, and /metrics counts the outcomes', async () => {
    const res = await fetch(`${base}/events`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const job = await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [7, 7] });
    let text = '';
    const decoder = new TextDecoder();
    while (!text.includes('event: job.succeeded')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    await reader.cancel();
    for (const topic of ['job.queued', 'job.running', 'job.succeeded']) assert.ok(text.includes(`event: ${topic}`), `no ${topic} in ${text}`);
    assert.ok(text.includes(job.body.id));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^wess_jobs_total\{outcome="succeeded"\} [1-9]/m);
  });

  test('a batch job keeps every item\'s answer', async () => {
    const res = await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', batch: [[1, 1], [2, 2]] });
    const job = await waitForJob(call, res.body.id);
    assert.deepEqual(job.result.batch, [{ results: [2] }, { results: [4] }]);
  });

  test('bad arguments and unknown functions are refused at submission', async () => {
    assert.equal((await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: ['x', 1] })).body.error.code, 'INVALID_ARGUMENT');
    assert.equal((await call('POST', `/modules/${ids.add}/jobs`, { function: 'nope' })).body.error.code, 'UNKNOWN_FUNCTION');
    assert.equal((await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [1, 2], timeout_ms: 5 })).status, 400);
  });

  test('a trap fails at once: no retry', async () => {
    const res = await call('POST', `/modules/${ids.trap}/jobs`, { function: 'div', args: [1, 0], max_attempts: 5 });
    const job = await waitForJob(call, res.body.id);
    assert.equal(job.status, 'failed');
    assert.equal(job.attempts, 1);
    assert.equal(job.error.code, 'WASM_TRAP');
  });

  test('timeouts are retried with backoff and the job is dead after max_attempts; retry redrives it', async () => {
    const res = await call('POST', `/modules/${ids['loop-forever']}/jobs`, { function: 'spin', timeout: 100, max_attempts: 2 });
    const job = await waitForJob(call, res.body.id);
    assert.equal(job.status, 'dead');
    assert.equal(job.attempts, 2);
    assert.equal(job.error.code, 'EXECUTION_TIMEOUT');
    const dead = await call('GET', `/jobs?status=dead&module=${ids['loop-forever']}`);
    assert.ok(dead.body.items.some((j: { id: string }) => j.id === job.id));

    const again = await call('POST', `/jobs/${job.id}/retry`);
    assert.equal(again.status, 202);
    assert.equal(again.body.status, 'queued');
    assert.equal(again.body.attempts, 0);
    const redriven = await waitForJob(call, job.id);
    assert.equal(redriven.status, 'dead');
    assert.equal(redriven.attempts, 2);
    assert.equal((await call('POST', `/jobs/${ids.add}/retry`)).status, 404);
  });

  test('a job over the tier\'s max_job_timeout is refused; one above the synchronous timeout is not', async () => {
    const key = await makeKey(t.app, { name: 'small', role: 'developer', tenant: 'small-tenant', tier: 'small' });
    const small = client(await listenUrl(t), key.key);
    const mod = (await small('POST', '/modules', { name: 'add', content: (await import('../helper.js')).fixture('add').toString('base64') })).body;
    assert.equal((await small('POST', `/modules/${mod.id}/jobs`, { function: 'add', args: [1, 2], timeout: 3001 })).body.error.code, 'VALIDATION');
    const ok = await small('POST', `/modules/${mod.id}/jobs`, { function: 'add', args: [1, 2], timeout: 2500 });
    assert.equal(ok.status, 202);
    // Another tenant's job answers as a missing one does.
    assert.equal((await small('GET', `/jobs/${(await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [1, 1] })).body.id}`)).body.error.code, 'JOB_NOT_FOUND');
    const listed = await small('GET', '/jobs');
    assert.ok(listed.body.items.every((j: { module: string }) => j.module === mod.id));
  });

  test('the same idempotency_key returns the first job', async () => {
    const body = { function: 'add', args: [4, 4], idempotency_key: 'nightly-2026-12-07' };
    const first = await call('POST', `/modules/${ids.add}/jobs`, body);
    const second = await call('POST', `/modules/${ids.add}/jobs`, body);
    assert.equal(second.status, 202);
    assert.equal(second.body.id, first.body.id);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    const other = await call('POST', `/modules/${ids.add}/jobs`, { ...body, idempotency_key: 'nightly-2026-12-08' });
    assert.notEqual(other.body.id, first.body.id);
  });

  test('a queued job can be cancelled; a job that is not queued cannot', async () => {
    // The one job slot is held by a spinning job, so the next one stays queued.
    const blocker = await call('POST', `/modules/${ids['loop-forever']}/jobs`, { function: 'spin', timeout: 1500, max_attempts: 1 });
    await waitForJob(call, blocker.body.id, (job) => job.status === 'running');
    const queued = await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [1, 2] });
    const cancelled = await call('DELETE', `/jobs/${queued.body.id}`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    const again = await call('DELETE', `/jobs/${queued.body.id}`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'JOB_STATE');
    await waitForJob(call, blocker.body.id);
    assert.equal((await call('GET', `/jobs/${queued.body.id}`)).body.status, 'cancelled');
  });

  test('a callback to a host outside jobs.callback_allow is refused with 400', async () => {
    const res = await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [1, 2], callback_url: 'http://169.254.169.254/latest/meta-data' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'CALLBACK_NOT_ALLOWED');
  });
});

describe('max_queued_jobs', () => {
  let t: TestApp;
  before(async () => {
    // poll long and concurrency 1 with a spinning job: later jobs stay queued.
    t = await startApp({ runner: { timeout: 3000 }, jobs: { concurrency: 1 }, tiers: { tiny: { max_queued_jobs: 2 } } });
  });
  after(async () => t.close());

  test('a tenant past its tier\'s max_queued_jobs gets 403 TIER_LIMIT', async () => {
    const key = await makeKey(t.app, { name: 'tiny', role: 'developer', tenant: 'tiny', tier: 'tiny' });
    const call = client(await listen(t.app), key.key);
    const { fixture } = await import('../helper.js');
    const spin = (await call('POST', '/modules', { name: 'spin', content: fixture('loop-forever').toString('base64') })).body;
    const first = await call('POST', `/modules/${spin.id}/jobs`, { function: 'spin', timeout: 2000, max_attempts: 1 });
    assert.equal(first.status, 202);
    assert.equal((await call('POST', `/modules/${spin.id}/jobs`, { function: 'spin', timeout: 2000, max_attempts: 1 })).status, 202);
    const third = await call('POST', `/modules/${spin.id}/jobs`, { function: 'spin', timeout: 2000, max_attempts: 1 });
    assert.equal(third.status, 403);
    assert.equal(third.body.error.code, 'TIER_LIMIT');
  });
});

async function listenUrl(t: TestApp): Promise<string> {
  const address = t.app.server.address();
  if (!address || typeof address !== 'object') throw new Error('not listening');
  return `http://127.0.0.1:${address.port}`;
}

describe('jobs.retention', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ jobs: { retention: 300, poll: 50 } });
  });
  after(async () => t.close());

  test('an ended job is deleted once older than jobs.retention; a queued one is kept', async () => {
    const call = client(await listen(t.app));
    const add = (await upload(t.app, 'add')).id;
    const done = await call('POST', `/modules/${add}/jobs`, { function: 'add', args: [1, 2], idempotency_key: 'once' });
    assert.equal((await waitForJob(call, done.body.id)).status, 'succeeded');
    const deadline = Date.now() + 30_000;
    while ((await call('GET', `/jobs/${done.body.id}`)).status !== 404) {
      if (Date.now() > deadline) assert.fail('the ended job was never deleted');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Its idempotency key went with it: the same key makes a new job.
    const again = await call('POST', `/modules/${add}/jobs`, { function: 'add', args: [1, 2], idempotency_key: 'once' });
    assert.notEqual(again.body.id, done.body.id);
  });
});
