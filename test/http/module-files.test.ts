import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { admitStoredModule } from '../../src/modules/admission.js';
import { restoreArchive, withAtomicFile } from '../../src/store/level/backup-files.js';
import type { WasiInput } from '../../src/wasi/types.js';
import { decodeBlobPointer } from '../../src/store/level/codec.js';
import { blobKey, contentKey } from '../../src/store/level/keys.js';
import { blobStored, fixture, levelOnly, makeKey, startApp, TEST_BACKUP_KEY, wasiFixture, type TestApp } from '../helper.js';
import { rawTar, tarOfTree, zeroBomb } from '../files/tar-helper.js';
import { levelDb } from '../store/level.js';
import { backupKey } from '../../src/store/backup-key.js';

type App = TestApp['app'];
const TREE = { 'hello.txt': 'hello\n', 'data/numbers.csv': '1,2,3\n' };
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

interface Summary { count: number; bytes: number; sha256: string; size: number }

async function create(app: App, body: Record<string, unknown>): Promise<{ statusCode: number; json: () => Record<string, unknown> & { id: string; files?: Summary; error?: { code: string; message: string } }; body: string }> {
  return app.inject({ method: 'POST', url: '/modules', payload: body });
}

/** Modules and bytes the default tenant holds: what a refused upload must leave as it was. */
async function held(app: App): Promise<{ modules: number; bytes: number }> {
  const list = await app.inject({ url: '/modules?limit=100' });
  return { modules: (list.json() as { items: unknown[] }).items.length, bytes: await app.services.store.reader.tenantBytes('default') };
}

/** The WASI inputs the runner hands its dispatcher, captured on the way to the workers. */
function spyOnWasi(app: App): WasiInput[] {
  const seen: WasiInput[] = [];
  const dispatcher = (app.services.runner as unknown as { dispatcher: { submit(r: { wasi?: WasiInput }): unknown; submitGroup(r: Array<{ wasi?: WasiInput }>): unknown } }).dispatcher;
  const submit = dispatcher.submit.bind(dispatcher);
  const submitGroup = dispatcher.submitGroup.bind(dispatcher);
  dispatcher.submit = (request) => {
    if (request.wasi) seen.push(request.wasi);
    return submit(request);
  };
  dispatcher.submitGroup = (requests) => {
    for (const request of requests) if (request.wasi) seen.push(request.wasi);
    return submitGroup(requests);
  };
  return seen;
}

describe('module files', () => {
  let t: TestApp;
  let archive: Buffer;
  let seen: WasiInput[];
  before(async () => {
    t = await startApp({ limits: { max_files: 50 }, tiers: { small: { max_files_bytes: 100 } } });
    archive = await tarOfTree(TREE);
    seen = spyOnWasi(t.app);
  });
  after(() => t.close());

  test('an upload with files shows their summary on every view of the module and its versions', async () => {
    const res = await create(t.app, { name: 'with-files', content: b64(fixture('add')), files: b64(archive) });
    assert.equal(res.statusCode, 201, res.body);
    const record = res.json();
    const files = record.files as Summary;
    assert.deepEqual({ count: files.count, bytes: files.bytes }, { count: 2, bytes: 12 });
    assert.match(files.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual((await t.app.inject({ url: `/modules/${record.id}` })).json().files, files);
    assert.deepEqual((await t.app.inject({ url: `/modules/${record.id}/versions/1` })).json().files, files);
    assert.deepEqual((await t.app.inject({ url: `/modules/${record.id}/versions` })).json().items[0].files, files);
    const listed = (await t.app.inject({ url: '/modules?limit=100' })).json().items.find((m: { id: string }) => m.id === record.id);
    assert.deepEqual(listed.files, files);
    // A module without files has no `files` at all.
    const plain = await create(t.app, { name: 'plain', content: b64(fixture('add')) });
    assert.equal('files' in plain.json(), false);
  });

  test('files count toward the tenant\'s storage; the same tree gzipped is the same blob, and a PUT without files makes a version without', async () => {
    const before = await held(t.app);
    const first = (await create(t.app, { name: 'dedup', content: b64(fixture('add')), files: b64(archive) })).json();
    const files = first.files as Summary;
    assert.equal((await held(t.app)).bytes - before.bytes, fixture('add').length + files.size);
    const blobsBefore = (await t.app.services.store.modules.verify()).blobs;
    const gz = await t.app.inject({ method: 'PUT', url: `/modules/${first.id}`, payload: { content: b64(fixture('add')), files: b64(await tarOfTree(TREE, true)) } });
    assert.equal(gz.statusCode, 200, gz.body);
    assert.equal(gz.json().files.sha256, files.sha256);
    assert.equal((await t.app.services.store.modules.verify()).blobs, blobsBefore, 'no new blob for the same files');
    const bare = await t.app.inject({ method: 'PUT', url: `/modules/${first.id}`, payload: { content: b64(fixture('add')) } });
    assert.equal(bare.statusCode, 200, bare.body);
    assert.equal('files' in bare.json(), false);
    const renamed = await t.app.inject({ method: 'PUT', url: `/modules/${first.id}`, payload: { name: 'renamed' } });
    assert.equal('files' in renamed.json(), false, 'a rename keeps the current version as it is');
    const back = await t.app.inject({ method: 'POST', url: `/modules/${first.id}/rollback`, payload: { version: 1 } });
    assert.equal(back.statusCode, 200, back.body);
    assert.deepEqual(back.json().files, files);
    const onlyFiles = await t.app.inject({ method: 'PUT', url: `/modules/${first.id}`, payload: { files: b64(archive) } });
    assert.equal(onlyFiles.statusCode, 400);
    assert.match(onlyFiles.json().error.message, /files come with the binary they belong to/);
    // Deleting the module frees every byte, files included, and drops the blob no version uses any more.
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/modules/${first.id}` })).statusCode, 204);
    assert.equal((await held(t.app)).bytes, before.bytes);
    assert.equal(await blobStored(t.app, files.sha256), true, 'the other module with the same files still holds the blob');
  });

  test('every WASI run of a version with files gets them: a command, a reactor call, a batch, a pinned version', async () => {
    const command = (await create(t.app, { name: 'hello', content: b64(wasiFixture('hello')), files: b64(archive) })).json();
    const sha256 = (command.files as Summary).sha256;
    seen.length = 0;
    const ran = await t.app.inject({ method: 'POST', url: `/modules/${command.id}/run`, payload: {} });
    assert.equal(ran.statusCode, 200, ran.body);
    const reactor = (await create(t.app, { name: 'lib', content: b64(wasiFixture('lib')), files: b64(archive) })).json();
    assert.equal((await t.app.inject({ method: 'POST', url: `/modules/${reactor.id}/run`, payload: { function: 'add', args: [1, 2] } })).statusCode, 200);
    const batch = await t.app.inject({ method: 'POST', url: `/modules/${reactor.id}/run`, payload: { function: 'add', batch: [[1, 2], [3, 4]] } });
    assert.equal(batch.statusCode, 200, batch.body);
    assert.equal(seen.length, 4);
    for (const input of seen) {
      assert.equal(input.files?.sha256, sha256);
      assert.ok(input.files.image.buffer instanceof SharedArrayBuffer, 'the image crosses to the worker without a copy');
      assert.equal(input.maxScratchBytes, 16 * 1024 * 1024);
    }
    // A version without files runs with none; pinning the old version brings its files back.
    await t.app.inject({ method: 'PUT', url: `/modules/${command.id}`, payload: { content: b64(wasiFixture('hello')) } });
    seen.length = 0;
    await t.app.inject({ method: 'POST', url: `/modules/${command.id}/run`, payload: {} });
    await t.app.inject({ method: 'POST', url: `/modules/${command.id}/run?version=1`, payload: {} });
    assert.deepEqual(seen.map((input) => input.files?.sha256), [undefined, sha256]);
  });

  test('hostile archives are a clear 4xx and store nothing', async () => {
    const before = await held(t.app);
    const cases: Array<[string, string, number, RegExp]> = [
      ['..', b64(rawTar([{ path: '../x', body: 'x' }])), 400, /climbs out/],
      ['absolute', b64(rawTar([{ path: '/etc/passwd', body: 'x' }])), 400, /absolute path/],
      ['symlink out', b64(rawTar([{ path: 'l', type: 'SymbolicLink', linkpath: '../../etc' }])), 400, /leads out of the tree/],
      ['hard link', b64(rawTar([{ path: 'a', body: 'x' }, { path: 'b', type: 'Link', linkpath: 'a' }])), 400, /hard link/],
      ['count', b64(rawTar(Array.from({ length: 60 }, (_, i) => ({ path: `f${i}`, body: '' })))), 413, /limits\.max_files/],
      ['bomb', b64(await zeroBomb(100 * 1024 * 1024)), 413, /limits\.max_files_bytes/],
      ['not a tar', b64(Buffer.from('nothing to see here '.repeat(50))), 400, /not a (readable )?tar archive/],
      ['bad base64', 'not base64!', 400, /body\.files: must be standard base64/],
    ];
    for (const [name, files, status, message] of cases) {
      const res = await create(t.app, { name, content: b64(fixture('add')), files });
      assert.equal(res.statusCode, status, `${name}: ${res.body}`);
      assert.match(res.json().error?.message ?? '', message, name);
    }
    assert.deepEqual(await held(t.app), before);
  });

  test('a tier lowers max_files_bytes', async () => {
    const key = await makeKey(t.app, { name: 'small', role: 'developer', tier: 'small' });
    const res = await t.app.inject({ method: 'POST', url: '/modules', headers: { authorization: `Bearer ${key.key}` }, payload: { name: 'tiered', content: b64(fixture('add')), files: b64(await tarOfTree({ big: 'x'.repeat(200) })) } });
    assert.equal(res.statusCode, 413, res.body);
    assert.match(res.json().error.message, /the limit is 100 bytes \(limits\.max_files_bytes\) \(tier small\)/);
  });

  test('a files blob over max_storage is TIER_LIMIT, naming the bytes it adds', async () => {
    const quota = await startApp({ tiers: { tight: { max_storage: 2000 } } });
    try {
      const key = await makeKey(quota.app, { name: 'tight', role: 'developer', tier: 'tight' });
      const headers = { authorization: `Bearer ${key.key}` };
      const bare = await quota.app.inject({ method: 'POST', url: '/modules', headers, payload: { name: 'fits', content: b64(fixture('add')) } });
      assert.equal(bare.statusCode, 201, bare.body);
      const res = await quota.app.inject({ method: 'POST', url: '/modules', headers, payload: { name: 'too-much', content: b64(fixture('add')), files: b64(await tarOfTree({ big: 'x'.repeat(3000) })) } });
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().error.code, 'TIER_LIMIT');
      assert.equal(res.json().error.details.quota, 'max_storage');
      assert.ok(res.json().error.details.adding > 3000, 'the files image counts');
    } finally {
      await quota.close();
    }
  });

  test('backup then restore brings the files back, and the restore admits the files image', levelOnly, async () => {
    const made = (await create(t.app, { name: 'backed-up', content: b64(fixture('add')), files: b64(await tarOfTree({ 'kept.txt': 'kept' })) })).json();
    const scratch = await mkdtemp(join(tmpdir(), 'wess-files-backup-'));
    try {
      const archivePath = join(scratch, 'all.wessbak');
      await withAtomicFile(archivePath, async (write) => {
        for await (const chunk of t.app.services.store.modules.backup(backupKey(TEST_BACKUP_KEY))) await write(chunk as Buffer);
      });
      const dir = join(scratch, 'restored');
      // Admission that takes only wasm: a files image reaching it would be refused as INVALID_WASM.
      const limits = { maxModuleSize: 1 << 20, maxMemoryPages: 16, maxTableElements: 1_000_000 };
      await restoreArchive(archivePath, dir, { key: backupKey(TEST_BACKUP_KEY), admit: (bytes) => admitStoredModule(bytes, limits) });
      const restored = await startApp({}, dir);
      try {
        assert.deepEqual((await restored.app.inject({ url: `/modules/${made.id}` })).json().files, made.files);
        assert.equal((await restored.app.services.store.modules.verify()).damaged.filter((d) => d.module_id === made.id).length, 0);
      } finally {
        await restored.close();
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  test('export then import carries the files; verification reports a damaged files blob', levelOnly, async () => {
    const made = (await create(t.app, { name: 'moving', content: b64(fixture('add')), files: b64(await tarOfTree({ 'only.txt': 'moving files' })) })).json();
    const files = made.files as Summary;
    const exported = (await t.app.inject({ url: '/admin/export' })).body;
    const line = exported.split('\n').find((l) => l.includes(made.id));
    assert.ok(line);
    assert.equal(JSON.parse(line).versions[0].files.sha256, files.sha256);
    const other = await startApp();
    try {
      const imported = await other.app.inject({ method: 'POST', url: '/admin/import', headers: { 'content-type': 'application/x-ndjson' }, payload: exported });
      assert.equal(imported.statusCode, 200, imported.body);
      assert.equal(imported.json().failed_count, 0, imported.body);
      assert.deepEqual((await other.app.inject({ url: `/modules/${made.id}` })).json().files, files);
      assert.deepEqual((await other.app.services.store.modules.verify()).damaged, []);
    } finally {
      await other.close();
    }
    // The image's bytes gone from the store: verification names the version and says it is its files.
    const pointer = decodeBlobPointer((await levelDb(t.app).get(blobKey(files.sha256))) ?? new Uint8Array());
    assert.ok(pointer);
    await levelDb(t.app).batch([{ type: 'del', key: contentKey(pointer.c) }], { sync: true });
    const report = await t.app.services.store.modules.verify();
    const damage = report.damaged.find((d) => d.module_id === made.id);
    assert.ok(damage, JSON.stringify(report.damaged));
    assert.deepEqual([damage.sha256, damage.files, damage.problem], [files.sha256, true, 'unreadable']);
  });
});
