import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { listen, makeKey, startApp, TEST_ADMIN_KEY, upload, type TestApp } from '../helper.js';
import { client, waitForJob, type Call } from './client.js';

/**
 * Cancels `reader` after `ms` unless the returned function is called first: an event that never comes
 * ends the stream, and the test fails on what it read, instead of waiting on heartbeats.
 */
function cancelAfter(reader: ReadableStreamDefaultReader<Uint8Array>, ms = 30_000): () => void {
  const timer = setTimeout(() => void reader.cancel(), ms);
  return () => clearTimeout(timer);
}

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
    const stop = cancelAfter(reader);
    while (!text.includes('event: job.succeeded')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    stop();
    await reader.cancel();
    for (const topic of ['job.queued', 'job.running', 'job.succeeded']) assert.ok(text.includes(`event: ${topic}`), `no ${topic} in ${text}`);
    assert.ok(text.includes(job.body.id));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^wess_jobs_total\{outcome="succeeded"\} [1-9]/m);
  });

  test('failed, dead and cancelled jobs, and a retry, are events too, each naming the job and its module', async () => {
    const res = await fetch(`${base}/events`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const spin = ids['loop-forever'] as string;
    const failed = (await call('POST', `/modules/${ids.trap}/jobs`, { function: 'div', args: [1, 0] })).body.id as string;
    const dead = (await call('POST', `/modules/${spin}/jobs`, { function: 'spin', timeout: 100, max_attempts: 2 })).body.id as string;
    await waitForJob(call, dead);
    // The one job slot is held by a spinning job, so the next one stays queued until cancelled.
    const blocker = (await call('POST', `/modules/${spin}/jobs`, { function: 'spin', timeout: 1000, max_attempts: 1 })).body.id as string;
    await waitForJob(call, blocker, (job) => job.status === 'running');
    const cancelled = (await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [1, 2] })).body.id as string;
    assert.equal((await call('DELETE', `/jobs/${cancelled}`)).status, 200);
    // A retry is a job.queued again after attempt 1.
    const wanted = [`job.failed ${failed} 1 ${ids.trap}`, `job.queued ${dead} 1 ${spin}`, `job.dead ${dead} 2 ${spin}`, `job.cancelled ${cancelled} 0 ${ids.add}`];
    const seen: string[] = [];
    const decoder = new TextDecoder();
    let pending = '';
    const stop = cancelAfter(reader);
    while (!wanted.every((w) => seen.includes(w))) {
      const { value, done } = await reader.read();
      if (done) break;
      const frames = (pending + decoder.decode(value, { stream: true })).split('\n\n');
      pending = frames.pop() ?? '';
      for (const frame of frames) {
        const [, topic, data] = /^event: (job\.\w+)\ndata: (.*)$/m.exec(frame) ?? [];
        if (topic === undefined || data === undefined) continue;
        const payload = JSON.parse(data) as { id: string; attempts: number; module: string };
        seen.push(`${topic} ${payload.id} ${payload.attempts} ${payload.module}`);
      }
    }
    stop();
    await reader.cancel();
    for (const w of wanted) assert.ok(seen.includes(w), `no ${w} in ${seen.join(', ')}`);
    await waitForJob(call, blocker);
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

  test('an idempotency_key holds for jobs.idempotency_hours (24 h): a job from 23 h ago is returned, one from 25 h ago is not', async () => {
    const first = await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [5, 5] });
    await waitForJob(call, first.body.id);
    const record = await t.app.services.store.jobs.get(first.body.id);
    assert.ok(record);
    // Jobs as old as that cannot be made through HTTP: stored as a submission would have stored them then.
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
    const storeOld = async (key: string, hours: number) => {
      const job = { ...record, id: uuidv7(), idempotency_key: key, created_at: hoursAgo(hours), started_at: hoursAgo(hours), finished_at: hoursAgo(hours) };
      await t.app.services.store.writer.submit({ kind: 'create-job', job, idempotentSince: hoursAgo(24 * 365), tier: null });
      return job.id;
    };
    const recent = await storeOld('window-23h', 23);
    const stale = await storeOld('window-25h', 25);
    const again = await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [5, 5], idempotency_key: 'window-23h' });
    assert.equal(again.body.id, recent);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const fresh = await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [5, 5], idempotency_key: 'window-25h' });
    assert.equal(fresh.status, 202);
    assert.notEqual(fresh.body.id, stale);
    assert.equal(fresh.headers.get('idempotent-replayed'), null);
    // The new job holds the key from now on.
    assert.equal((await call('POST', `/modules/${ids.add}/jobs`, { function: 'add', args: [5, 5], idempotency_key: 'window-25h' })).body.id, fresh.body.id);
  });

  test('GET /jobs pages with limit and cursor: every job once, in id order', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await call('POST', `/modules/${ids.trap}/jobs`, { function: 'div', args: [6, 3] })).status, 202);
    const whole = (await call('GET', `/jobs?module=${ids.trap}&limit=100`)).body;
    assert.equal(whole.next_cursor, null);
    assert.ok(whole.items.length >= 3);
    const paged: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await call('GET', `/jobs?module=${ids.trap}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200);
      assert.ok(page.body.items.length <= 2);
      paged.push(...page.body.items.map((j: { id: string }) => j.id));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor && pages < 100);
    assert.ok(pages >= 2, 'more than one page');
    assert.deepEqual(paged, whole.items.map((j: { id: string }) => j.id));
    assert.deepEqual(paged, [...paged].sort());
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

describe('queue gauges', () => {
  let t: TestApp;
  before(async () => {
    // One job at a time: a spinning job keeps the ones behind it queued.
    t = await startApp({ jobs: { concurrency: 1, poll: 100 } });
  });
  after(async () => t.close());

  /** The two gauges as /metrics shows them. */
  async function gauges(): Promise<{ depth: number; age: number }> {
    const text = (await t.app.inject({ url: '/metrics' })).body;
    const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { depth: read('wess_job_queue_depth'), age: read('wess_job_queue_age_seconds') };
  }

  async function until(what: string, check: (g: { depth: number; age: number }) => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    let last = await gauges();
    while (!check(last)) {
      if (Date.now() > deadline) assert.fail(`${what}: the gauges still read ${JSON.stringify(last)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      last = await gauges();
    }
  }

  test('wess_job_queue_depth and wess_job_queue_age_seconds follow the queue, and fall back to 0 once it drains', async () => {
    const call = client(await listen(t.app));
    const spin = (await upload(t.app, 'loop-forever')).id;
    const add = (await upload(t.app, 'add')).id;
    const blocker = await call('POST', `/modules/${spin}/jobs`, { function: 'spin', timeout: 8000, max_attempts: 1 });
    await waitForJob(call, blocker.body.id, (job) => job.status === 'running');
    const waiting = [];
    for (let i = 0; i < 2; i++) waiting.push((await call('POST', `/modules/${add}/jobs`, { function: 'add', args: [i, 1] })).body.id as string);
    // One running and two queued behind it, the oldest waiting since its submission.
    await until('three jobs active, one waiting', (g) => g.depth === 3 && g.age > 0);
    for (const id of [blocker.body.id as string, ...waiting]) await waitForJob(call, id);
    await until('an empty queue', (g) => g.depth === 0 && g.age === 0);
  });
});
