import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, fixture, listen, makeKey, startApp, upload, waitFor, type TestApp } from '../helper.js';
import { follow, lines, wess } from './helper.js';

describe('wess versions, rollback, audit and events against a real server', () => {
  let t: TestApp;
  let env: Record<string, string>;
  const cli = (args: string[]) => wess(args, { env });
  const streamsOpened = () => t.logs.filter((l) => l.msg === 'event stream opened').length;
  const replace = (id: string, name: string) =>
    t.app.inject({ method: 'PUT', url: `/modules/${id}?name=${name}`, headers: { 'content-type': 'application/wasm' }, payload: fixture('single-export') });

  before(async () => {
    t = await startApp();
    env = { WESS_URL: await listen(t.app), WESS_KEY: TEST_ADMIN_KEY };
  });
  after(() => t.close());

  test('regression (issue 15, item 18): wess versions lists the versions newest first; wess rollback makes an old one current', async () => {
    const { id } = await upload(t.app, 'calc', fixture('add'));
    assert.equal((await replace(id, 'doubler')).statusCode, 200);

    const listed = await cli(['versions', id]);
    assert.equal(listed.code, 0, listed.stderr);
    const [header, ...rows] = lines(listed.stdout);
    assert.match(header ?? '', /^VERSION\s+NAME\s+SIZE\s+SHA256\s+CREATED$/);
    assert.deepEqual(rows.map((row) => row.trim().split(/\s+/).slice(0, 2)), [['2', 'doubler'], ['1', 'calc']]);
    const json = await cli(['versions', id, '--json']);
    assert.deepEqual(JSON.parse(json.stdout), (await t.app.inject({ url: `/modules/${id}/versions` })).json());
    const paged = await cli(['versions', id, '--limit', '1']);
    assert.match(paged.stdout, /^\(more: --cursor \S+, or --all\)$/m);

    const back = await cli(['rollback', id, '1']);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /^version:\s+3$/m);
    assert.match(back.stdout, /^name:\s+calc$/m);
    assert.match(back.stdout, /^exports:\s+add\(i32, i32\) -> i32$/m);
    assert.deepEqual((await cli(['run', id, 'add', '2', '3'])).stdout, '5\n');

    const stale = await cli(['rollback', id, '2', '--if-version', '2']);
    assert.equal(stale.code, 1);
    assert.match(lines(stale.stderr).join('|'), /^wess: VERSION_CONFLICT: .* \(HTTP 409\)$/);
    const missing = await cli(['rollback', id, '9']);
    assert.deepEqual([missing.code, lines(missing.stderr)], [1, [`wess: VERSION_NOT_FOUND: module ${id} has no version 9 (HTTP 404)`]]);
    assert.equal((await cli(['rollback', id, '0'])).code, 2, 'a version that cannot exist is a usage error');
  });

  test('regression (issue 15, item 18): wess audit reads the audit log, newest first, with the route\'s filters', async () => {
    const made = await t.app.inject({ method: 'POST', url: '/modules?tenant=audited', payload: { name: 'a', content: fixture('add').toString('base64') } });
    const id = (made.json() as { id: string }).id;

    const table = await cli(['audit', '--limit', '2']);
    assert.equal(table.code, 0, table.stderr);
    const [header, first] = lines(table.stdout);
    assert.match(header ?? '', /^AT\s+ACTION\s+STATUS\s+OUTCOME\s+ACTOR\s+TENANT\s+TARGET\s+IP$/);
    assert.match(first ?? '', new RegExp(`^\\S+\\s+module\\.create\\s+201\\s+success\\s+testadmin\\s+audited\\s+${id}\\s`), 'the newest entry first');
    assert.match(table.stdout, /^\(more: --cursor \S+, or --all\)$/m);

    const json = await cli(['audit', '--tenant', 'audited', '--all', '--json']);
    const page = JSON.parse(json.stdout) as { items: { tenant: string; action: string; target: string }[]; next_cursor: null };
    assert.ok(page.items.length >= 1);
    for (const entry of page.items) assert.equal(entry.tenant, 'audited');
    assert.equal(page.next_cursor, null);

    const dev = await makeKey(t.app, { name: 'dev', role: 'developer', tenant: 'audited' });
    const refused = await cli(['audit', '--key', dev.key]);
    assert.equal(refused.code, 1);
    assert.match(lines(refused.stderr).join('|'), /^wess: FORBIDDEN: .* \(HTTP 403\)$/);
  });

  test('regression (issue 15, item 18): wess events prints one line per event as it happens, until Ctrl-C', async () => {
    const opened = streamsOpened();
    const events = follow(['events'], { env });
    await waitFor(() => streamsOpened() > opened);
    const { id } = await upload(t.app, 'followed', fixture('add'));
    const created = await events.nextLine((line) => line.includes(id));
    assert.match(created, new RegExp(`^\\d+\\s+\\S+Z\\s+module\\.created\\s+${id}\\s+version 1$`));
    await replace(id, 'followed2');
    assert.match(await events.nextLine((line) => line.includes('module.updated')), new RegExp(`module\\.updated\\s+${id}\\s+version 2$`));

    events.child.kill('SIGINT');
    const end = await events.exited;
    assert.ok(end.signal === 'SIGINT' || end.code === 130, `Ctrl-C stops it: ${JSON.stringify(end)}`);
    assert.equal(events.stderr(), '');

    // --since replays what the server still keeps; --module narrows; --json is one document per line.
    const replay = follow(['events', '--json', '--since', '0', '--module', id], { env });
    const update = JSON.parse(await replay.nextLine((line) => line.includes('module.updated'))) as { id: string; event: string; data: { module_id: string; version: number } };
    assert.deepEqual([update.event, update.data.module_id, update.data.version], ['module.updated', id, 2]);
    assert.match(update.id, /^\d+$/);
    replay.child.kill('SIGINT');
    await replay.exited;
  });

  test('regression (issue 15, item 18): when the server ends the stream, wess events exits 3 with one line', async () => {
    const runner = await makeKey(t.app, { name: 'watcher', role: 'runner' });
    const opened = streamsOpened();
    const events = follow(['events', '--key', runner.key], { env });
    await waitFor(() => streamsOpened() > opened);
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/keys/${runner.id}` })).statusCode, 204);
    const end = await events.exited;
    assert.equal(end.code, 3);
    assert.deepEqual(lines(events.stderr()), [`wess: the event stream from ${env.WESS_URL} ended (the server is shutting down, or the key was revoked)`]);
  });
});
