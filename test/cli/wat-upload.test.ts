import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, listen, startApp, type TestApp } from '../helper.js';
import { wess } from './helper.js';

describe('regression (issue 15, item 17): wess modules upload of a .wat file', () => {
  let t: TestApp;
  let env: Record<string, string>;
  before(async () => {
    t = await startApp();
    env = { WESS_URL: await listen(t.app), WESS_KEY: TEST_ADMIN_KEY };
  });
  after(() => t.close());

  test('sends it as text/wat: the server compiles it, and the name drops .wat', async () => {
    const { code, stdout, stderr } = await wess(['--json', 'modules', 'upload', 'test/fixtures/wasm/add.wat'], { env });
    assert.equal(code, 0, stderr);
    const made = JSON.parse(stdout) as { id: string; name: string; exports: unknown[] };
    assert.equal(made.name, 'add');
    assert.deepEqual(made.exports, [{ name: 'add', params: ['i32', 'i32'], results: ['i32'] }]);
    const upload = t.logs.find((l) => l.msg === 'request' && l.method === 'POST' && l.url === '/modules?name=add');
    assert.equal(upload?.status, 201);
    const ran = await wess(['run', made.id, 'add', '20', '22'], { env });
    assert.equal(ran.stdout.trim(), '42', ran.stderr);
  });

  test('text without a (module …) wrapper, which only its content type marks as text, compiles too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-wat-'));
    try {
      const file = join(dir, 'sub.wat');
      await writeFile(file, '(func (export "sub") (param i32 i32) (result i32)\n  local.get 0\n  local.get 1\n  i32.sub)\n');
      const { code, stdout, stderr } = await wess(['--json', 'modules', 'upload', file], { env });
      assert.equal(code, 0, stderr);
      const made = JSON.parse(stdout) as { id: string; name: string };
      assert.equal(made.name, 'sub');
      const ran = await wess(['run', made.id, 'sub', '50', '8'], { env });
      assert.equal(ran.stdout.trim(), '42', ran.stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
