/**
 * Jobs survive a kill -9: a real server is killed with 100 jobs queued and running, restarted on the
 * same store, and every job ends exactly once, succeeded. Runs the kill cut short run again (their
 * attempts say so); no other job runs twice, a job that had ended before the kill is untouched, and
 * jobs whose 202 came just before the kill are there (a job is stored before it is answered). A job
 * killed on its last attempt ends dead once its lease runs out, counted by the node that settles it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, TEST_STORE } from '../helper.js';
import { startProcess, uploadOver, type Proc } from '../process.js';
import { testDatabase, type TestDatabase } from '../store/postgres/pg-helper.js';
import { client, waitForJob, type Call } from './client.js';

/** Job views as GET /jobs lists them (checked field by field by the assertions, hence `any`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Jobs = Array<Record<string, any>>;

const JOBS = 100;
/** Submitted just before the kill, which follows their last 202 at once. */
const LAST = 5;
const CONCURRENCY = 4;
/** Small leases so the restarted node takes the cut jobs back within seconds. */
const ENV = {
  WESS_RATE_LIMIT_MAX: '100000000',
  WESS_SERVER_WORKERS: '3',
  WESS_JOBS_CONCURRENCY: String(CONCURRENCY),
  WESS_JOBS_LEASE: '1000',
  WESS_JOBS_POLL: '100',
  WESS_JOBS_RETRY_BASE: '50',
};

async function jobsNow(call: Call, module: string): Promise<Jobs> {
  const all: Jobs = [];
  let cursor: string | null = null;
  do {
    const page = await call('GET', `/jobs?module=${module}&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(page.status, 200);
    all.push(...page.body.items);
    cursor = page.body.next_cursor;
  } while (cursor);
  return all;
}

describe('jobs and kill -9', () => {
  let dir: string;
  let db: TestDatabase | undefined;
  let proc: Proc | undefined;
  after(async () => {
    proc?.child.kill('SIGKILL');
    await proc?.exited;
    await db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('after a restart every job ends exactly once, succeeded', async (t) => {
    dir = await mkdtemp(join(tmpdir(), 'wess-jobs-crash-'));
    if (TEST_STORE === 'postgres') db = await testDatabase();
    const env = { ...ENV, ...(db ? { WESS_DATABASE_URL: db.url } : {}) };
    proc = await startProcess(dir, { env });
    let call = client(proc.base);
    const module = await uploadOver(proc.base, 'busy');
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      // ~100 ms each: the queue drains over a second or two, long enough to be caught mid-way.
      const res = await call('POST', `/modules/${module}/jobs`, { function: 'busy', args: [100_000_000 + i], timeout: 3000 });
      assert.equal(res.status, 202);
      ids.push(res.body.id);
    }
    let before: Jobs;
    const deadline = Date.now() + 60_000;
    do {
      before = await jobsNow(call, module);
      if (Date.now() > deadline) assert.fail('the jobs never got going');
    } while (before.filter((j) => j.status === 'succeeded').length < 10);
    // Durable before the 202: jobs answered the moment before the kill are there after it.
    for (let i = 0; i < LAST; i++) {
      const res = await call('POST', `/modules/${module}/jobs`, { function: 'busy', args: [1_000_000], timeout: 3000 });
      assert.equal(res.status, 202);
      ids.push(res.body.id);
    }
    proc.child.kill('SIGKILL');
    await proc.exited;
    const endedBefore = new Map(before.filter((j) => j.status === 'succeeded').map((j) => [j.id, j]));
    assert.ok(endedBefore.size < ids.length, 'the kill came after every job had ended');
    assert.ok(before.some((j) => j.status === 'running'), 'no job was running just before the kill');

    proc = await startProcess(dir, { env });
    call = client(proc.base);
    let after: Jobs;
    const settle = Date.now() + 120_000;
    do {
      after = await jobsNow(call, module);
      if (Date.now() > settle) assert.fail(`jobs still not ended: ${JSON.stringify(after.filter((j) => j.status !== 'succeeded').slice(0, 3))}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } while (after.some((j) => j.status !== 'succeeded' && j.status !== 'failed' && j.status !== 'dead'));

    assert.deepEqual(after.map((j) => j.id).sort(), [...ids].sort(), 'every job is there, once');
    assert.deepEqual(after.filter((j) => j.status !== 'succeeded'), [], 'every job succeeded');
    for (const job of after) assert.equal(job.result.results[0], 0);
    // A job that had ended before the kill is exactly as it was.
    for (const [id, was] of endedBefore) assert.deepEqual(after.find((j) => j.id === id), was);
    // Runs again only for runs the kill cut: at most one per job slot of the killed node.
    const rerun = after.filter((j) => j.attempts > 1);
    t.diagnostic(`${ids.length} jobs (${LAST} answered just before the kill), ${endedBefore.size} ended before the kill, ${before.filter((j) => j.status === 'running').length} running at the last look; ${rerun.length} ran again`);
    assert.ok(rerun.length <= CONCURRENCY, `${rerun.length} jobs ran twice; at most ${CONCURRENCY} were running at the kill`);
    for (const job of rerun) assert.equal(job.attempts, 2);
    assert.equal(after.filter((j) => j.attempts === 1).length, ids.length - rerun.length);
  });
  test('a job whose node is killed on its last attempt ends dead, and the node that settles it counts it', async () => {
    const lastDir = await mkdtemp(join(tmpdir(), 'wess-jobs-last-'));
    const lastDb = TEST_STORE === 'postgres' ? await testDatabase() : undefined;
    const env = { ...ENV, ...(lastDb ? { WESS_DATABASE_URL: lastDb.url } : {}) };
    let node: Proc | undefined = await startProcess(lastDir, { env });
    try {
      let call = client(node.base);
      const module = await uploadOver(node.base, 'loop-forever');
      // Its only attempt loops until its 3 s timeout: the kill comes first.
      const res = await call('POST', `/modules/${module}/jobs`, { function: 'spin', max_attempts: 1, timeout: 3000 });
      assert.equal(res.status, 202);
      const id = String(res.body.id);
      await waitForJob(call, id, (job) => job.status === 'running');
      node.child.kill('SIGKILL');
      await node.exited;

      node = await startProcess(lastDir, { env });
      call = client(node.base);
      // Its lease (the timeout, then jobs.lease) runs out; the next claim finds the last attempt used.
      const job = await waitForJob(call, id, (j) => j.status === 'dead');
      assert.equal(job.attempts, 1);
      assert.equal(job.error.code, 'UNAVAILABLE');
      assert.match(job.error.message, /stopped before the run ended/);
      const metrics = await fetch(`${node.base}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
      assert.match(await metrics.text(), /^wess_jobs_total\{outcome="dead"\} 1$/m);
    } finally {
      node?.child.kill('SIGKILL');
      await node?.exited;
      await lastDb?.close();
      await rm(lastDir, { recursive: true, force: true });
    }
  });
});
