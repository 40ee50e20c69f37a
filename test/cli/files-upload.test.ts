import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, listen, startApp, type TestApp } from '../helper.js';
import { wess } from './helper.js';

const PROGRAM = 'test/fixtures/wasi/files.wasm';

describe('wess modules upload/update --files DIR', () => {
  let t: TestApp;
  let env: Record<string, string>;
  let dir: string;
  before(async () => {
    t = await startApp();
    env = { WESS_URL: await listen(t.app), WESS_KEY: TEST_ADMIN_KEY };
    dir = await mkdtemp(join(tmpdir(), 'wess-files-cli-'));
    await writeFile(join(dir, 'greeting.txt'), 'hello from the files\n');
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data', 'a.txt'), 'a');
    await writeFile(join(dir, 'data', 'b.txt'), 'bb');
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the directory becomes the version\'s /: the program reads and lists it, and its writes do not last', async () => {
    const made = await wess(['--json', 'modules', 'upload', PROGRAM, '--files', dir], { env });
    assert.equal(made.code, 0, made.stderr);
    const record = JSON.parse(made.stdout) as { id: string; name: string; files?: { count: number; bytes: number; sha256: string } };
    assert.equal(record.name, 'files');
    assert.equal(record.files?.count, 3);
    assert.equal(record.files?.bytes, 'hello from the files\n'.length + 3);
    assert.match(record.files?.sha256 ?? '', /^[0-9a-f]{64}$/);

    const cat = await wess(['run', record.id, 'cat', '/greeting.txt'], { env });
    assert.equal(cat.stdout, 'hello from the files\n', cat.stderr);
    const ls = await wess(['run', record.id, 'ls', '/data'], { env });
    assert.equal(ls.stdout, 'a.txt\nb.txt\n', ls.stderr);
    for (let round = 0; round < 2; round++) {
      const appended = await wess(['run', record.id, 'append', '/data/a.txt', '+more'], { env });
      assert.equal(appended.stdout, 'a+more', `round ${round}: each run starts from the stored files; ${appended.stderr}`);
    }

    const shown = await wess(['modules', 'get', record.id], { env });
    assert.match(shown.stdout, new RegExp(`files:\\s+3 files, 24 B, sha256 ${record.files?.sha256}`));
  });

  test('update --files gives the new version its files; a version without --files has none', async () => {
    const made = JSON.parse((await wess(['--json', 'modules', 'upload', PROGRAM, '--name', 'versions', '--files', dir], { env })).stdout) as { id: string };
    const other = await mkdtemp(join(tmpdir(), 'wess-files-cli-'));
    try {
      await writeFile(join(other, 'greeting.txt'), 'version two\n');
      const two = await wess(['--json', 'modules', 'update', made.id, PROGRAM, '--files', other], { env });
      assert.equal(two.code, 0, two.stderr);
      assert.equal((JSON.parse(two.stdout) as { files?: { count: number } }).files?.count, 1);
      assert.equal((await wess(['run', made.id, 'cat', '/greeting.txt'], { env })).stdout, 'version two\n');
      assert.equal((await wess(['run', '--version', '1', made.id, 'cat', '/greeting.txt'], { env })).stdout, 'hello from the files\n');
      const three = await wess(['--json', 'modules', 'update', made.id, PROGRAM], { env });
      assert.equal((JSON.parse(three.stdout) as { files?: unknown }).files, undefined);
      const none = await wess(['run', made.id, 'cat', '/greeting.txt'], { env });
      assert.equal(none.code, 6, 'no files: nothing is preopened, so the open fails and the program exits 1');
      assert.match(none.stdout, /cannot open \/greeting.txt/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  test('a path that is not a directory is refused before anything is sent', async () => {
    const res = await wess(['modules', 'upload', PROGRAM, '--files', PROGRAM], { env });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /--files wants a directory/);
  });
});
