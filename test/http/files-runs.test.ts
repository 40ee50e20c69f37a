/** WASI runs of a version with files, end to end: real uploads, real workers, the program's own view of `/`. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, wasiFixture, type TestApp } from '../helper.js';
import { tarOfTree } from '../files/tar-helper.js';

const SCRATCH = 1024 * 1024;
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

describe('WASI runs see their version\'s files', () => {
  let t: TestApp;
  let id: string;
  before(async () => {
    t = await startApp({ limits: { max_scratch_bytes: SCRATCH } });
    const files = await tarOfTree({ 'greeting.txt': 'hello\n', 'data/a.txt': 'a', 'data/b.txt': 'b' }, true);
    const res = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: 'files', content: b64(wasiFixture('files')), files: b64(files) } });
    assert.equal(res.statusCode, 201, res.body);
    id = (res.json() as { id: string }).id;
  });
  after(() => t.close());

  async function run(...args: string[]): Promise<{ exit_code: number; stdout: string; stderr: string }> {
    const res = await t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: { args } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  }

  test('a command reads and lists them', async () => {
    const greeting = await run('cat', '/greeting.txt');
    assert.equal(greeting.exit_code, 0);
    assert.equal(greeting.stdout, 'hello\n');
    assert.equal((await run('ls', '/data')).stdout, 'a.txt\nb.txt\n');
    assert.equal((await run('ls', '/')).stdout, 'data\ngreeting.txt\n');
  });

  test('runs at once never see each other\'s writes, and the stored files never change', async () => {
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => run('append', '/greeting.txt', `run ${i}`)));
    runs.forEach((r, i) => assert.equal(r.stdout, `hello\nrun ${i}`));
    assert.equal((await run('cat', '/greeting.txt')).stdout, 'hello\n');
  });

  test('writing past limits.max_scratch_bytes fails inside the program with ENOSPC; the server and the next run are fine', async () => {
    const filled = await run('fill', '/big', String(4 * SCRATCH));
    assert.equal(filled.exit_code, 2, filled.stdout);
    const wrote = Number(/^wrote (\d+): No space left on device$/m.exec(filled.stdout)?.[1]);
    assert.ok(wrote > 0 && wrote <= SCRATCH, filled.stdout);
    const fits = await run('fill', '/small', String(SCRATCH / 2));
    assert.equal(fits.stdout, `wrote ${SCRATCH / 2}\n`, 'the previous run\'s bytes were given back');
    assert.equal((await run('ls', '/')).stdout, 'data\ngreeting.txt\n');
    assert.equal((await t.app.inject({ url: '/health/ready' })).statusCode, 200);
  });

  test('an escape is refused inside the program', async () => {
    const out = await run('cat', '/../../../etc/passwd');
    assert.equal(out.exit_code, 1);
    assert.match(out.stdout, /^cannot open \/\.\.\/\.\.\/\.\.\/etc\/passwd: /);
    assert.doesNotMatch(out.stdout, /root:/);
  });
});
