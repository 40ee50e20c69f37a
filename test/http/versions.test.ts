import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../../src/store/level/db.js';
import { parseArgs } from '../../src/wasm/values.js';
import { fixture, levelOnly, startApp, upload, type TestApp } from '../helper.js';
import { levelDb } from '../store/level.js';

// `any`: JSON response bodies, which the asserts check field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const b64 = (name: string): string => fixture(name).toString('base64');

async function keys(db: Db, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const key of db.keys({ gte: prefix, lt: `${prefix}\uffff` })) out.push(key);
  return out;
}

describe('module versions over HTTP', () => {
  let t: TestApp;
  const put = (id: string, payload: Json, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'PUT', url: `/modules/${id}`, payload, headers });
  const get = (url: string) => t.app.inject({ method: 'GET', url });

  /** A module with four versions: add, single-export, a rename, add-i64. */
  async function fourVersions(): Promise<string> {
    const { id } = await upload(t.app, 'add');
    assert.equal((await put(id, { content: b64('single-export') })).statusCode, 200);
    assert.equal((await put(id, { name: 'renamed' })).statusCode, 200);
    assert.equal((await put(id, { content: b64('add-i64') })).statusCode, 200);
    return id;
  }

  before(async () => {
    t = await startApp();
  });
  after(async () => t.close());

  test('GET /modules/:id/versions lists every version newest first, and pages', async () => {
    const id = await fourVersions();
    const res = await get(`/modules/${id}/versions`);
    assert.equal(res.statusCode, 200);
    const { items, next_cursor } = res.json() as { items: Json[]; next_cursor: string | null };
    assert.equal(next_cursor, null);
    assert.deepEqual(items.map((v) => [v.version, v.name, v.sha256, v.size]), [
      [4, 'renamed', sha(fixture('add-i64')), fixture('add-i64').length],
      [3, 'renamed', sha(fixture('single-export')), fixture('single-export').length],
      [2, 'add', sha(fixture('single-export')), fixture('single-export').length],
      [1, 'add', sha(fixture('add')), fixture('add').length],
    ]);
    assert.deepEqual(Object.keys(items[0]!).sort(), ['created_at', 'name', 'sha256', 'size', 'version']);
    assert.ok(items.every((v, i) => i === 0 || v.created_at <= items[i - 1]!.created_at));

    const first = (await get(`/modules/${id}/versions?limit=3`)).json();
    assert.deepEqual(first.items.map((v: Json) => v.version), [4, 3, 2]);
    const second = (await get(`/modules/${id}/versions?limit=3&cursor=${first.next_cursor}`)).json();
    assert.deepEqual([second.items.map((v: Json) => v.version), second.next_cursor], [[1], null]);

    for (const bad of ['limit=0', 'limit=101', 'cursor=%%%', 'bogus=1']) {
      const r = await get(`/modules/${id}/versions?${bad}`);
      assert.equal(r.json().error.code, 'VALIDATION', bad);
    }
    const missing = await get('/modules/9b2f4f0e-3c1a-4d7e-9f6b-2a1c3e5d7f90/versions');
    assert.deepEqual([missing.statusCode, missing.json().error.code], [404, 'MODULE_NOT_FOUND']);
  });

  test('an old version keeps its own metadata and exact bytes', async () => {
    const id = await fourVersions();
    const v1 = await get(`/modules/${id}/versions/1`);
    assert.equal(v1.statusCode, 200);
    assert.equal(v1.headers.etag, '"1"');
    const meta = v1.json();
    assert.deepEqual(meta.exports, [{ name: 'add', params: ['i32', 'i32'], results: ['i32'] }]);
    assert.deepEqual([meta.id, meta.version, meta.name, meta.kind, meta.memory], [id, 1, 'add', 'functions', null]);
    assert.deepEqual((await get(`/modules/${id}/versions/2`)).json().exports.map((e: Json) => e.name), ['double']);
    for (const [n, name] of [[1, 'add'], [2, 'single-export'], [4, 'add-i64']] as const) {
      const content = await get(`/modules/${id}/versions/${n}/content`);
      assert.equal(content.statusCode, 200);
      assert.equal(content.headers['content-type'], 'application/wasm');
      assert.deepEqual(content.rawPayload, fixture(name), `version ${n}`);
    }
  });

  test('an old version stays runnable: its metadata and stored bytes are enough for the runner', async () => {
    const id = await fourVersions();
    const v1 = (await t.app.services.store.reader.getVersion(id, 1))!;
    const fn = v1.exports.find((e) => e.name === 'add')!;
    const outcome = await t.app.services.runner.run({ sha256: v1.sha256, fn: fn.name, params: fn.params, results: fn.results, args: parseArgs(fn.params, [2, 3], { maxArgs: 10 }) });
    assert.deepEqual(outcome.results, [5]);
  });

  test('unknown versions are 404 VERSION_NOT_FOUND, malformed ones 400', async () => {
    const { id } = await upload(t.app, 'add');
    for (const url of [`/modules/${id}/versions/2`, `/modules/${id}/versions/2/content`]) {
      const res = await get(url);
      assert.deepEqual([res.statusCode, res.json().error.code], [404, 'VERSION_NOT_FOUND'], url);
      assert.match(res.json().error.message, /has no version 2/);
    }
    const gone = await get('/modules/9b2f4f0e-3c1a-4d7e-9f6b-2a1c3e5d7f90/versions/1');
    assert.deepEqual([gone.statusCode, gone.json().error.code], [404, 'MODULE_NOT_FOUND']);
    for (const bad of ['0', '01', '-1', '1.5', 'abc', '12345678901']) {
      const res = await get(`/modules/${id}/versions/${bad}`);
      assert.deepEqual([res.statusCode, res.json().error.code], [400, 'VALIDATION'], bad);
    }
  });

  test('rollback makes an old version current again as version n+1', async () => {
    const id = await fourVersions();
    const res = await t.app.inject({ method: 'POST', url: `/modules/${id}/rollback`, payload: { version: 1 } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.etag, '"5"');
    const mod = res.json();
    assert.deepEqual([mod.version, mod.name, mod.sha256], [5, 'add', sha(fixture('add'))]);
    assert.deepEqual(mod.exports.map((e: Json) => e.name), ['add']);
    assert.deepEqual((await get(`/modules/${id}`)).json(), mod);
    assert.deepEqual((await get(`/modules/${id}/content`)).rawPayload, fixture('add'));
    const run = await t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: { function: 'add', args: [2, 3] } });
    assert.deepEqual(run.json().results, [5]);
    const versions = (await get(`/modules/${id}/versions`)).json().items.map((v: Json) => v.version);
    assert.deepEqual(versions, [5, 4, 3, 2, 1], 'history only grows');
    const same = await t.app.inject({ method: 'POST', url: `/modules/${id}/rollback`, payload: { version: 5 } });
    assert.equal(same.json().version, 6, 'rolling back to the current version is allowed and adds a version');
  });

  test('rollback refuses unknown versions and malformed bodies', async () => {
    const { id } = await upload(t.app, 'add');
    const rollback = (payload: unknown, target = id) =>
      t.app.inject({ method: 'POST', url: `/modules/${target}/rollback`, payload: payload as Json });
    const unknown = await rollback({ version: 7 });
    assert.deepEqual([unknown.statusCode, unknown.json().error.code], [404, 'VERSION_NOT_FOUND']);
    const missing = await rollback({ version: 1 }, '9b2f4f0e-3c1a-4d7e-9f6b-2a1c3e5d7f90');
    assert.deepEqual([missing.statusCode, missing.json().error.code], [404, 'MODULE_NOT_FOUND']);
    for (const body of [{}, { version: 0 }, { version: 1.5 }, { version: '1' }, { version: 1, extra: true }]) {
      const res = await rollback(body);
      assert.deepEqual([res.statusCode, res.json().error.code], [400, 'VALIDATION'], JSON.stringify(body));
    }
    const empty = await t.app.inject({ method: 'POST', url: `/modules/${id}/rollback` });
    assert.equal(empty.statusCode, 400);
  });

  test('GET, POST and PUT answers carry the version as ETag', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: 'e', content: b64('add') } });
    assert.equal(res.headers.etag, '"1"');
    const { id } = res.json();
    assert.equal((await get(`/modules/${id}`)).headers.etag, '"1"');
    assert.equal((await put(id, { name: 'f' })).headers.etag, '"2"');
    assert.equal((await get(`/modules/${id}`)).headers.etag, '"2"');
  });
});

describe('If-Match', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(async () => t.close());

  const send = (method: 'PUT' | 'DELETE' | 'POST', url: string, ifMatch: string, payload?: Json) =>
    t.app.inject({ method, url, headers: { 'if-match': ifMatch }, ...(payload ? { payload } : {}) });

  test('a stale version is 409 VERSION_CONFLICT on PUT, DELETE and rollback; the module is untouched', async () => {
    const { id } = await upload(t.app, 'add');
    await t.app.inject({ method: 'PUT', url: `/modules/${id}`, payload: { name: 'v2' } });
    const stale = [
      send('PUT', `/modules/${id}`, '"1"', { content: b64('single-export') }),
      send('PUT', `/modules/${id}`, '1', { name: 'x' }),
      send('POST', `/modules/${id}/rollback`, '"1"', { version: 1 }),
      send('DELETE', `/modules/${id}`, '"1"'),
    ];
    for (const res of await Promise.all(stale)) {
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().error.code, 'VERSION_CONFLICT');
      assert.match(res.json().error.message, /is at version 2, not version 1/);
    }
    const now = await t.app.inject({ method: 'GET', url: `/modules/${id}` });
    assert.deepEqual([now.json().version, now.json().name], [2, 'v2']);
  });

  test('a fresh version, in any accepted form, lets the write through', async () => {
    const { id } = await upload(t.app, 'add');
    const put = await send('PUT', `/modules/${id}`, '"1"', { content: b64('single-export') });
    assert.deepEqual([put.statusCode, put.json().version], [200, 2]);
    const rename = await send('PUT', `/modules/${id}`, '2', { name: 'renamed' });
    assert.deepEqual([rename.statusCode, rename.json().version], [200, 3]);
    const weak = await send('POST', `/modules/${id}/rollback`, 'W/"3"', { version: 1 });
    assert.deepEqual([weak.statusCode, weak.json().version], [200, 4]);
    const any = await send('PUT', `/modules/${id}`, '*', { name: 'star' });
    assert.deepEqual([any.statusCode, any.json().version], [200, 5]);
    const del = await send('DELETE', `/modules/${id}`, ' "5" ');
    assert.equal(del.statusCode, 204);
  });

  test('an If-Match that is not one version number is 400 VALIDATION', async () => {
    const { id } = await upload(t.app, 'add');
    for (const bad of ['abc', '"1", "2"', '0', '-1', '"1', '1.0', 'W/1', '""']) {
      for (const res of [
        await send('PUT', `/modules/${id}`, bad, { name: 'x' }),
        await send('DELETE', `/modules/${id}`, bad),
        await send('POST', `/modules/${id}/rollback`, bad, { version: 1 }),
      ]) {
        assert.deepEqual([res.statusCode, res.json().error.code], [400, 'VALIDATION'], bad);
        assert.match(res.json().error.message, /if-match/);
      }
    }
    assert.equal((await t.app.inject({ method: 'GET', url: `/modules/${id}` })).json().version, 1);
  });

  test('of two concurrent PUTs with the same If-Match exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const { id } = await upload(t.app, 'add');
      const [a, b] = await Promise.all([
        send('PUT', `/modules/${id}`, '"1"', { name: 'a', content: b64('single-export') }),
        send('PUT', `/modules/${id}`, '"1"', { name: 'b', content: b64('add-i64') }),
      ]);
      const statuses = [a!.statusCode, b!.statusCode].sort();
      assert.deepEqual(statuses, [200, 409], `round ${round}`);
      const winner = a!.statusCode === 200 ? a! : b!;
      const now = (await t.app.inject({ method: 'GET', url: `/modules/${id}` })).json();
      assert.deepEqual([now.version, now.name], [2, winner.json().name]);
    }
  });
});

describe('versions in the store', () => {
  test('DELETE removes the module, all its versions and blobs no one else uses', levelOnly, async () => {
    const t = await startApp();
    try {
      const db = levelDb(t.app);
      const { id } = await upload(t.app, 'add');
      await t.app.inject({ method: 'PUT', url: `/modules/${id}`, payload: { content: b64('single-export') } });
      await t.app.inject({ method: 'PUT', url: `/modules/${id}`, payload: { content: b64('trap') } });
      const other = await upload(t.app, 'add');
      assert.equal((await keys(db, `v!${id}`)).length, 3);
      assert.equal((await keys(db, 'b!')).length, 3);
      assert.equal((await t.app.inject({ method: 'DELETE', url: `/modules/${id}` })).statusCode, 204);
      assert.deepEqual(await keys(db, `v!${id}`), []);
      assert.deepEqual(await keys(db, `m!${id}`), []);
      assert.deepEqual(await keys(db, 'b!'), [`b!${sha(fixture('add'))}`], "the other module's blob stays");
      assert.deepEqual((await keys(db, 'r!')).map((k) => k.split('!')[2]), [other.id]);
      const res = await t.app.inject({ method: 'GET', url: `/modules/${id}/versions/1` });
      assert.deepEqual([res.statusCode, res.json().error.code], [404, 'MODULE_NOT_FOUND']);
    } finally {
      await t.close();
    }
  });

  test('PUT of the same content twice keeps one blob for both versions', levelOnly, async () => {
    const t = await startApp();
    try {
      const { id } = await upload(t.app, 'add');
      for (let i = 0; i < 2; i++) {
        await t.app.inject({ method: 'PUT', url: `/modules/${id}`, payload: { content: b64('single-export') } });
      }
      const blobs = await keys(levelDb(t.app), 'b!');
      assert.deepEqual(blobs, [`b!${sha(fixture('add'))}`, `b!${sha(fixture('single-export'))}`].sort());
      assert.equal((await keys(levelDb(t.app), `r!${sha(fixture('single-export'))}`)).length, 2, 'one reference per version');
    } finally {
      await t.close();
    }
  });

  test('history survives a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-versions-'));
    try {
      let t = await startApp({}, dir);
      const { id } = await upload(t.app, 'add');
      await t.app.inject({ method: 'PUT', url: `/modules/${id}`, payload: { name: 'two', content: b64('single-export') } });
      const before = (await t.app.inject({ method: 'GET', url: `/modules/${id}/versions` })).json();
      await t.close();
      t = await startApp({}, dir);
      try {
        assert.deepEqual((await t.app.inject({ method: 'GET', url: `/modules/${id}/versions` })).json(), before);
        assert.deepEqual((await t.app.inject({ method: 'GET', url: `/modules/${id}/versions/1/content` })).rawPayload, fixture('add'));
        const back = await t.app.inject({ method: 'POST', url: `/modules/${id}/rollback`, headers: { 'if-match': '2' }, payload: { version: 1 } });
        assert.deepEqual([back.statusCode, back.json().version], [200, 3]);
      } finally {
        await t.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
