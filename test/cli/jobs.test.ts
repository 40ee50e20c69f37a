import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, listen, startApp, upload, type TestApp } from '../helper.js';
import { follow, lines, wess } from './helper.js';

describe('wess jobs and wess schedules against a real server', () => {
  let t: TestApp;
  let env: Record<string, string>;
  const ids: Record<string, string> = {};
  const cli = (args: string[]) => wess(args, { env });

  before(async () => {
    t = await startApp({ jobs: { poll: 100, retry_base: 20 } });
    env = { WESS_URL: await listen(t.app), WESS_KEY: TEST_ADMIN_KEY };
    ids.add = (await upload(t.app, 'add')).id;
    ids.trap = (await upload(t.app, 'trap')).id;
  });
  after(() => t.close());

  test('submit prints the id; --wait prints the ended job; get and ls show it', async () => {
    const submitted = await cli(['jobs', 'submit', ids.add as string, 'add', '2', '3']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = submitted.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);

    const waited = await cli(['jobs', 'submit', ids.add as string, 'add', '40', '2', '--wait', '--json']);
    assert.equal(waited.code, 0, waited.stderr);
    const job = JSON.parse(waited.stdout) as { status: string; result: { results: number[] } };
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(job.result.results, [42]);

    const got = await cli(['jobs', 'get', id]);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /^status:\s+(queued|running|succeeded)$/m);

    const listed = await cli(['jobs', 'ls', '--module', ids.add as string]);
    const [header, ...rows] = lines(listed.stdout);
    assert.match(header ?? '', /^ID\s+MODULE\s+STATUS\s+ATTEMPTS\s+CREATED\s+FINISHED$/);
    assert.equal(rows.length, 2);
  });

  test('a job that fails exits 4 with --wait; retry queues it again; a missing job is refused', async () => {
    const failed = await cli(['jobs', 'submit', ids.trap as string, 'div', '1', '0', '--wait']);
    assert.equal(failed.code, 4);
    assert.match(failed.stdout, /^status:\s+failed$/m);
    assert.match(failed.stdout, /^error:\s+WASM_TRAP: /m);
    const id = /^id:\s+(\S+)$/m.exec(failed.stdout)?.[1] as string;
    const retried = await cli(['jobs', 'retry', id]);
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, /is queued$/m);
    const missing = await cli(['jobs', 'get', '00000000-0000-7000-8000-000000000000']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /JOB_NOT_FOUND/);
  });

  test('wess events shows a job event under its module, naming the job', async () => {
    const waited = await cli(['jobs', 'submit', ids.add as string, 'add', '1', '1', '--wait', '--json']);
    const { id } = JSON.parse(waited.stdout) as { id: string };
    const events = follow(['events', '--since', '0', '--module', ids.add as string], { env });
    try {
      const line = await events.nextLine((l) => l.includes(`job ${id}`) && l.includes('job.succeeded'));
      assert.match(line, new RegExp(`^\\d+\\s+\\S+Z\\s+job\\.succeeded\\s+${ids.add}\\s+job ${id}\\s+attempts 1$`));
    } finally {
      events.child.kill('SIGINT');
      await events.exited;
    }
  });

  test('schedules create, ls, get and rm; jobs secret prints a secret', async () => {
    const made = await cli(['schedules', 'create', ids.add as string, 'add', '1', '1', '--cron', '0 3 * * *', '--timezone', 'Europe/Berlin', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const schedule = JSON.parse(made.stdout) as { id: string; cron: string };
    assert.equal(schedule.cron, '0 3 * * *');
    const listed = await cli(['schedules', 'ls']);
    assert.ok(listed.stdout.includes(schedule.id));
    const got = await cli(['schedules', 'get', schedule.id]);
    assert.match(got.stdout, /^timezone:\s+Europe\/Berlin$/m);
    assert.equal((await cli(['schedules', 'rm', schedule.id])).code, 0);
    assert.equal((await cli(['schedules', 'get', schedule.id])).code, 1);

    const secret = await cli(['jobs', 'secret']);
    assert.equal(secret.code, 0, secret.stderr);
    assert.match(secret.stdout.trim(), /^whsec_[A-Za-z0-9_-]{43}$/);
  });
});
