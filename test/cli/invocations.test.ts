import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, listen, startApp, upload, type TestApp } from '../helper.js';
import { lines, wess } from './helper.js';

describe('wess invocations against a real server', () => {
  let t: TestApp;
  let env: Record<string, string>;
  const cli = (args: string[]) => wess(args, { env });

  before(async () => {
    t = await startApp();
    env = { WESS_URL: await listen(t.app), WESS_KEY: TEST_ADMIN_KEY };
  });
  after(() => t.close());

  test("lists a module's last calls newest first, with --status and --json", async () => {
    const { id } = await upload(t.app, 'add');
    const ok = await t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: { function: 'add', args: [2, 3] } });
    const bad = await t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: { function: 'add', args: [2] } });
    assert.equal(bad.statusCode, 400);

    const listed = await cli(['invocations', id]);
    assert.equal(listed.code, 0, listed.stderr);
    const [header, ...rows] = lines(listed.stdout);
    assert.match(header ?? '', /^TIME\s+STATUS\s+CODE\s+VERSION\s+CALLED\s+MS\s+QUEUED\s+REQUEST\s+TRACE$/);
    assert.equal(rows.length, 2);
    assert.match(rows[0] ?? '', new RegExp(`\\s400\\s+INVALID_ARGUMENT\\s+1\\s+add\\s.*${String(bad.headers['x-request-id'])}`));
    assert.match(rows[1] ?? '', new RegExp(`\\s200\\s+-\\s+1\\s+add\\s.*${String(ok.headers['x-request-id'])}`));

    const errors = await cli(['invocations', id, '--status', 'error', '--json']);
    const page = JSON.parse(errors.stdout) as { items: Array<{ code: string; request_id: string }> };
    assert.deepEqual(page.items.map((c) => [c.code, c.request_id]), [['INVALID_ARGUMENT', bad.headers['x-request-id']]]);
    const wrong = await cli(['invocations', id, '--status', 'maybe']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /VALIDATION/);
  });
});
