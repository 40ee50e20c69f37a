import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, listen, startApp, wasiFixture, type TestApp } from '../helper.js';
import { lines, wess } from './helper.js';

describe('wess routes against a real server', () => {
  let t: TestApp;
  let url: string;
  let env: Record<string, string>;
  let module: string;
  const cli = (args: string[]) => wess(args, { env });

  before(async () => {
    t = await startApp();
    url = await listen(t.app);
    env = { WESS_URL: url, WESS_KEY: TEST_ADMIN_KEY };
    const res = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: 'hello', content: wasiFixture('http-hello').toString('base64') } });
    module = (res.json() as { id: string }).id;
  });
  after(() => t.close());

  test('add binds a path, ls lists it, the URL answers, rm deletes it', async () => {
    const added = await cli(['routes', 'add', '/hello', module, '--public', '--method', 'get']);
    assert.equal(added.code, 0, added.stderr);
    const id = /^id:\s+(\S+)$/m.exec(added.stdout)?.[1];
    assert.ok(id, added.stdout);
    assert.match(added.stdout, /^url:\s+\/h\/default\/hello$/m);
    assert.match(added.stdout, /^access:\s+public$/m);
    assert.match(added.stdout, /^methods:\s+GET$/m);

    const listed = await cli(['routes', 'ls']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${id}\\s+default\\s+/hello\\s+${module}\\s+current\\s+GET\\s+public\\s+/h/default/hello$`, 'm'));
    const json = await cli(['--json', 'routes', 'ls']);
    assert.equal((JSON.parse(json.stdout) as { items: Array<{ id: string }> }).items[0]?.id, id);

    const served = await fetch(`${url}/h/default/hello`);
    assert.equal(await served.text(), 'hello, world\n');

    const taken = await cli(['routes', 'add', '/hello', module]);
    assert.equal(taken.code, 1);
    assert.match(lines(taken.stderr)[0] ?? '', /^wess: ROUTE_CONFLICT: tenant default already has a route at \/hello \(HTTP 409\)$/);

    const removed = await cli(['routes', 'rm', id]);
    assert.deepEqual([removed.code, removed.stdout], [0, `deleted route ${id}\n`]);
    assert.equal((await fetch(`${url}/h/default/hello`)).status, 404);
  });
});
