import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { listen, makeKey, startApp, TEST_STORE, upload, type TestApp } from '../helper.js';
import { client, type Call } from './client.js';

const FAST = { poll: 100, retry_base: 20 };
const EVERY_SECOND = '* * * * * *';

/** Resolves once `check` answers something truthy, polling; fails after `ms`. */
async function until<T>(check: () => Promise<T | undefined | false>, ms = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every job a schedule created, oldest first. */
async function jobsOf(call: Call, module: string, schedule: string): Promise<Array<{ id: string; created_at: string; status: string; schedule_id: string }>> {
  const res = await call('GET', `/jobs?module=${module}&limit=100`);
  return (res.body.items as Array<{ id: string; created_at: string; status: string; schedule_id: string }>).filter((j) => j.schedule_id === schedule);
}

const second = (iso: string) => Math.floor(Date.parse(iso) / 1000);

describe('schedules', () => {
  const apps: TestApp[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const app of apps) await app.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('a 1-second schedule creates a job per tick, each runs; deleting it stops it', async () => {
    const t = await startApp({ jobs: FAST });
    apps.push(t);
    const call = client(await listen(t.app));
    const add = (await upload(t.app, 'add')).id;
    const created = await call('POST', `/modules/${add}/schedules`, { cron: EVERY_SECOND, function: 'add', args: [2, 2] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('location'), `/schedules/${created.body.id}`);
    assert.equal(created.body.cron, EVERY_SECOND);
    assert.equal(created.body.function, 'add');
    const id = created.body.id as string;
    const jobs = await until(async () => {
      const found = await jobsOf(call, add, id);
      return found.filter((j) => j.status === 'succeeded').length >= 2 && found;
    }, 30_000, 'two scheduled jobs succeeded');
    const ok = await call('GET', `/jobs/${jobs[0]?.id}`);
    assert.deepEqual(ok.body.result.results, [4]);
    assert.ok((await call('GET', `/schedules/${id}`)).body.fired >= 2);
    assert.ok((await call('GET', '/schedules')).body.items.some((s: { id: string }) => s.id === id));

    assert.equal((await call('DELETE', `/schedules/${id}`)).status, 204);
    const deletedAt = Date.now();
    assert.equal((await call('GET', `/schedules/${id}`)).body.error.code, 'SCHEDULE_NOT_FOUND');
    const count = (await jobsOf(call, add, id)).length;
    // Two ticks later (and many polls) nothing more was fired.
    await until(async () => Date.now() > deletedAt + 2_000, 10_000);
    assert.equal((await jobsOf(call, add, id)).length, count);
  });

  test('bad cron expressions and time zones are 400; max_schedules is 403 TIER_LIMIT', async () => {
    const t = await startApp({ jobs: FAST, tiers: { one: { max_schedules: 1 } } });
    apps.push(t);
    const base = await listen(t.app);
    const admin = client(base);
    const add = (await upload(t.app, 'add')).id;
    assert.equal((await admin('POST', `/modules/${add}/schedules`, { cron: 'every day', function: 'add', args: [1, 1] })).body.error.code, 'VALIDATION');
    assert.equal((await admin('POST', `/modules/${add}/schedules`, { cron: '0 3 * * *', timezone: 'Mars/Olympus', function: 'add', args: [1, 1] })).body.error.code, 'VALIDATION');
    const berlin = await admin('POST', `/modules/${add}/schedules`, { cron: '0 3 * * *', timezone: 'Europe/Berlin', function: 'add', args: [1, 1] });
    assert.equal(berlin.status, 201);
    assert.match(berlin.body.next_at, /T0[12]:00:00\.000Z$/, '03:00 in Berlin is 01:00 or 02:00 UTC');

    const key = await makeKey(t.app, { name: 'one', role: 'developer', tenant: 'one', tier: 'one' });
    const one = client(base, key.key);
    const { fixture } = await import('../helper.js');
    const mine = (await one('POST', '/modules', { name: 'add', content: fixture('add').toString('base64') })).body;
    assert.equal((await one('POST', `/modules/${mine.id}/schedules`, { cron: '0 3 * * *', function: 'add', args: [1, 1] })).status, 201);
    const second = await one('POST', `/modules/${mine.id}/schedules`, { cron: '0 4 * * *', function: 'add', args: [1, 1] });
    assert.equal(second.status, 403);
    assert.equal(second.body.error.code, 'TIER_LIMIT');
    // Another tenant's schedule answers as a missing one does.
    assert.equal((await one('GET', `/schedules/${berlin.body.id}`)).body.error.code, 'SCHEDULE_NOT_FOUND');
    assert.equal((await one('DELETE', `/schedules/${berlin.body.id}`)).status, 404);
  });

  test('after a restart, missed ticks are run once, not once each', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-schedules-'));
    dirs.push(dir);
    let t = await startApp({ jobs: FAST }, dir);
    let call = client(await listen(t.app));
    const add = (await upload(t.app, 'add')).id;
    const id = (await call('POST', `/modules/${add}/schedules`, { cron: EVERY_SECOND, function: 'add', args: [1, 2] })).body.id as string;
    await until(async () => (await jobsOf(call, add, id)).length >= 1, 30_000, 'a first tick');
    await t.close();
    const closedAt = Date.now();
    // Down for more than three ticks.
    await until(async () => Date.now() > closedAt + 3_500, 10_000);
    t = await startApp({ jobs: FAST }, dir);
    apps.push(t);
    call = client(await listen(t.app));
    const restartedAt = Date.now();
    const all = await until(async () => {
      const found = await jobsOf(call, add, id);
      return found.filter((j) => Date.parse(j.created_at) >= restartedAt - 1000).length >= 3 && found;
    }, 30_000, 'three ticks after the restart');
    const afterRestart = all.filter((j) => Date.parse(j.created_at) >= closedAt);
    const seconds = afterRestart.map((j) => second(j.created_at));
    assert.equal(new Set(seconds).size, seconds.length, `two jobs fired in one second after the restart: ${JSON.stringify(afterRestart.map((j) => j.created_at))}`);
    // Nothing was fired while no node ran.
    assert.ok(afterRestart.every((j) => Date.parse(j.created_at) >= restartedAt - 1000));
  });

  test('with two nodes on one PostgreSQL store, each tick fires once', { skip: TEST_STORE === 'postgres' ? false : 'needs a store shared by two nodes' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-schedules-two-'));
    dirs.push(dir);
    const a = await startApp({ jobs: FAST }, dir);
    apps.push(a);
    const b = await startApp({ jobs: FAST }, dir);
    apps.push(b);
    const call = client(await listen(a.app));
    const add = (await upload(a.app, 'add')).id;
    const id = (await call('POST', `/modules/${add}/schedules`, { cron: EVERY_SECOND, function: 'add', args: [3, 4] })).body.id as string;
    const jobs = await until(async () => {
      const found = await jobsOf(call, add, id);
      return found.length >= 5 && found;
    }, 30_000, 'five ticks');
    const schedule = (await call('GET', `/schedules/${id}`)).body;
    const now = await jobsOf(call, add, id);
    assert.equal(now.length, schedule.fired, 'one job per fire');
    const seconds = jobs.map((j) => second(j.created_at));
    assert.equal(new Set(seconds).size, seconds.length, `a tick fired twice: ${JSON.stringify(jobs.map((j) => j.created_at))}`);
  });
});
