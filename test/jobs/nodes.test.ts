import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { listen, startApp, TEST_STORE, upload, type TestApp } from '../helper.js';
import { client } from './client.js';

const JOBS = 60;

/** wess_jobs_total{outcome="succeeded"} of one node. */
async function succeededOn(t: TestApp): Promise<number> {
  const text = (await t.app.inject({ url: '/metrics' })).body;
  return Number(/^wess_jobs_total\{outcome="succeeded"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

describe('jobs on two nodes sharing one PostgreSQL store', { skip: TEST_STORE === 'postgres' ? false : 'needs a store shared by two nodes' }, () => {
  const apps: TestApp[] = [];
  let dir: string;
  after(async () => {
    for (const app of apps) await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('both nodes claim jobs, and each job runs once', async () => {
    dir = await mkdtemp(join(tmpdir(), 'wess-jobs-nodes-'));
    const settings = { jobs: { poll: 50, concurrency: 2 } };
    const a = await startApp(settings, dir);
    apps.push(a);
    const b = await startApp(settings, dir);
    apps.push(b);
    const call = client(await listen(a.app));
    const busy = (await upload(a.app, 'busy')).id;
    const ids: string[] = [];
    // Submitted to node A only: node B learns of them by polling, and claims its share with SKIP LOCKED.
    for (let i = 0; i < JOBS; i++) ids.push((await call('POST', `/modules/${busy}/jobs`, { function: 'busy', args: [20_000_000] })).body.id);
    const deadline = Date.now() + 60_000;
    let jobs: Array<{ id: string; status: string; attempts: number }>;
    do {
      if (Date.now() > deadline) assert.fail('the jobs did not all succeed');
      await new Promise((resolve) => setTimeout(resolve, 100));
      jobs = (await call('GET', `/jobs?module=${busy}&limit=100`)).body.items;
    } while (jobs.some((j) => j.status !== 'succeeded'));
    assert.equal(jobs.length, JOBS);
    assert.ok(jobs.every((j) => j.attempts === 1), 'a job was run twice');
    const [onA, onB] = [await succeededOn(a), await succeededOn(b)];
    assert.equal(onA + onB, JOBS, 'every job reported once, by one node');
    assert.ok(onA > 0 && onB > 0, `both nodes ran jobs (A ${onA}, B ${onB})`);
  });
});
