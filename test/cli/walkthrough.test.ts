/** The README's walk-through, pasted as a newcomer would: its shell blocks run by bash against a real server. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ROOT, TEST_ADMIN_KEY, fixture, listen, startApp, type TestApp } from '../helper.js';
import { runProcess, type CliResult } from './helper.js';

const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
const haveCurl = spawnSync('curl', ['--version']).status === 0 && spawnSync('bash', ['--version']).status === 0;

/** The `sh` code blocks of the README section under `heading`. */
function shBlocks(heading: string): string[] {
  const from = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(from !== -1, `the README has a section "${heading}"`);
  const to = readme.indexOf('\n## ', from + 1);
  const section = readme.slice(from, to === -1 ? undefined : to);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
}

/** Runs `script` with bash -e; async, since the server answering it runs in this process. */
function bash(script: string): Promise<CliResult> {
  return runProcess('bash', ['-e', '-c', script], { env: { PATH: process.env.PATH ?? '' } });
}

/** Where each block's output starts in the script's stdout. */
const MARK = '### block';

describe('the README walk-through, line by line', () => {
  let t: TestApp;
  let base: string;

  before(async () => {
    t = await startApp();
    base = await listen(t.app);
    // A module with the lowest id there can be, which exports no `add`: a walk-through that picked
    // "the first module" instead of the one it uploaded would run this one.
    const bytes = fixture('trap');
    const now = new Date().toISOString();
    const line = JSON.stringify({
      id: '00000000-0000-4000-8000-000000000000',
      tenant: 'default',
      name: 'first',
      version: 1,
      created_at: now,
      updated_at: now,
      versions: [{ version: 1, name: 'first', sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, created_at: now, content: bytes.toString('base64') }],
    });
    const header = JSON.stringify({ format: 'wess-export', version: 1, exported_at: now, tenant: null, modules_estimate: 1 });
    const end = JSON.stringify({ format: 'wess-export-end', modules: 1 });
    const imported = await t.app.inject({ method: 'POST', url: '/admin/import', headers: { 'content-type': 'application/x-ndjson' }, payload: `${header}\n${line}\n${end}\n` });
    assert.equal((imported.json() as { imported: number }).imported, 1, imported.body);
  });
  after(() => t.close());

  test('regression (issue 15, item 11): the walk-through runs the module it just uploaded, and every block works as written', { skip: !haveCurl && 'needs bash and curl' }, async () => {
    const blocks = [...shBlocks('Walk-through'), ...shBlocks('Batch runs and what a call did'), ...shBlocks('WASI programs'), ...shBlocks('Versions and rollback')];
    assert.equal(blocks.length, 5);
    const script = blocks
      .map((block) => `echo '${MARK}'\n${block}`)
      .join('\n')
      // The only edits: the key the server printed, and the port this test's server listens on.
      .replace(/^export WESS_KEY='wess_k3x9…'.*$/m, `export WESS_KEY='${TEST_ADMIN_KEY}'`)
      .replaceAll('localhost:8080', base.replace('http://', ''));
    const res = await bash(script);
    assert.equal(res.code, 0, res.stderr);
    const [, walk = '', batch = '', wasi = '', files = '', versions = ''] = res.stdout.split(`${MARK}\n`);

    const uploaded = JSON.parse(walk.split('\n')[0] ?? '') as { id: string; name: string };
    assert.equal(uploaded.name, 'calc');
    // curl prints a JSON answer without a newline: the run's answer and the error's share a line.
    assert.match(walk.split('\n')[1] ?? '', /^\{"results":\[5\],"stats":\{[^}]*\}\}\{"error":\{"code":"INVALID_ARGUMENT","message":"args\[1\] \(i32\): 2\.5 is not an integer"/, 'the run ran the uploaded module');
    assert.match(walk, /^wess_requests_total/m);

    assert.match(batch, /^\{"batch":\[\{"results":\[3\]\},\{"results":\[7\]\},\{"error":\{"code":"INVALID_ARGUMENT"/);
    assert.match(wasi, /"exit_code":0,"stdout":"QUIET PLEASE","stderr":""/);
    assert.match(files, /^"files":\{"count":2,"bytes":22,"sha256":"[0-9a-f]{64}","size":\d+\}$/m);
    assert.match(files, /"exit_code":0,"stdout":"hello from the files\\n","stderr":""/);
    assert.match(versions, /^HTTP\/1\.1 200 /m);
    assert.match(versions, /^etag: "2"/m);
    assert.match(versions, /\{"items":\[\{"version":2,.*\{"version":1,/);
    assert.match(versions, /\{"results":\[5\],/);
    assert.match(versions, /\{"id":"[^"]+",.*"version":3,/);
  });
});
