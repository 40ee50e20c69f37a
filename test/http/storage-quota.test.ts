/**
 * Storage: tier max_storage over the bytes a tenant holds (every kept version counts its size),
 * and limits.max_versions pruning the oldest versions. Real HTTP, a real store in a temp dir.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256Hex } from '../../src/hash.js';
import { authHeaders, blobStored, listen, makeKey, startApp, type MadeKey, type TestApp } from '../helper.js';
import { constModule, paddedModule } from '../store/transfer-helper.js';

const WASM = { 'content-type': 'application/wasm' };

type Answer = { status: number; body: Record<string, unknown> & { error?: { code: string; message: string } } };

async function call(base: string, key: string, method: string, path: string, body?: Uint8Array): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { method, headers: authHeaders(body ? WASM : {}, key), body });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Answer['body']) : {} };
}

/** Bytes a tenant holds as its modules' version lists show them: the sum of every kept version's size. */
async function listedBytes(t: TestApp, tenant: string): Promise<number> {
  let sum = 0;
  const modules = (await t.app.inject({ url: `/modules?tenant=${tenant}&limit=100` })).json().items as Array<{ id: string }>;
  for (const { id } of modules) {
    const versions = (await t.app.inject({ url: `/modules/${id}/versions?limit=100` })).json().items as Array<{ size: number }>;
    for (const { size } of versions) sum += size;
  }
  return sum;
}

describe('tier max_storage', () => {
  let dir: string;
  let t: TestApp;
  let base: string;
  let dev: MadeKey;
  const a = paddedModule(1, 10_000);
  const b = paddedModule(2, 10_000);
  const c = paddedModule(3, 10_000);
  const LIMIT = 25_000;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wess-storage-'));
    t = await startApp({ tiers: { small: { max_storage: LIMIT } } }, dir);
    base = await listen(t.app);
    dev = await makeKey(t.app, { name: 'acme dev', role: 'developer', tenant: 'acme', tier: 'small' });
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function usage(): Promise<{ stored_bytes: number; max_storage: number | null }> {
    const res = await call(base, dev.key, 'GET', `/keys/${dev.id}/usage`);
    assert.equal(res.status, 200);
    assert.equal((res.body.limits as Record<string, unknown>).max_storage, LIMIT);
    return res.body.storage as { stored_bytes: number; max_storage: number | null };
  }

  test('regression (issue 15, item 4): an upload over max_storage gets 403 TIER_LIMIT naming the numbers and stores nothing; deleting frees the room; a restart keeps the count', async () => {
    const first = await call(base, dev.key, 'POST', '/modules?name=a', a);
    const second = await call(base, dev.key, 'POST', '/modules?name=b', b);
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    const held = a.length + b.length;
    assert.deepEqual(await usage(), { tenant: 'acme', stored_bytes: held, max_storage: LIMIT });

    const over = await call(base, dev.key, 'POST', '/modules?name=c', c);
    assert.equal(over.status, 403);
    assert.equal(over.body.error?.code, 'TIER_LIMIT');
    assert.equal(over.body.error?.message, `tenant acme holds ${held} bytes and this adds ${c.length}; tier small allows ${LIMIT} bytes (max_storage). Delete modules or versions first, or use a key of a bigger tier`);
    assert.equal(await blobStored(t.app, sha256Hex(c)), false, 'its content was not stored');
    assert.equal((await t.app.inject({ url: '/modules?tenant=acme' })).json().items.length, 2);
    // A new version counts its whole size, even a rename's (same content): the tenant holds it again.
    const rename = await call(base, dev.key, 'PUT', `/modules/${first.body.id as string}?name=a2`, a);
    assert.equal(rename.status, 403);
    assert.equal((await usage()).stored_bytes, held, 'nothing was charged for the refusals');

    // Deleting gives back every version's bytes, and the refused upload fits.
    assert.equal((await call(base, dev.key, 'DELETE', `/modules/${second.body.id as string}`)).status, 204);
    assert.equal((await usage()).stored_bytes, a.length);
    assert.equal((await call(base, dev.key, 'POST', '/modules?name=c', c)).status, 201);
    assert.equal((await usage()).stored_bytes, a.length + c.length);
    assert.equal(await listedBytes(t, 'acme'), a.length + c.length, 'the count is the sum of the versions the lists show');

    await t.close();
    t = await startApp({ tiers: { small: { max_storage: LIMIT } } }, dir);
    base = await listen(t.app);
    assert.equal((await usage()).stored_bytes, a.length + c.length, 'the count is durable');
    const again = await call(base, dev.key, 'POST', '/modules?name=b', b);
    assert.equal(again.status, 403, 'and still enforced after the restart');
  });

  test('regression (issue 15, item 4): uploads racing for the last room cannot overshoot max_storage', async () => {
    const racer = await makeKey(t.app, { name: 'race', role: 'developer', tenant: 'race', tier: 'small' });
    const uploads = await Promise.all(Array.from({ length: 6 }, (_, i) => call(base, racer.key, 'POST', `/modules?name=r${i}`, paddedModule(100 + i, 10_000))));
    assert.equal(uploads.filter((u) => u.status === 201).length, 2, 'room for two');
    assert.ok(uploads.filter((u) => u.status !== 201).every((u) => u.body.error?.code === 'TIER_LIMIT'));
    assert.equal(await t.app.services.store.reader.tenantBytes('race'), await listedBytes(t, 'race'));
  });
});

describe('limits.max_versions', () => {
  let t: TestApp;

  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  const put = (id: string, bytes: Uint8Array) => t.app.inject({ method: 'PUT', url: `/modules/${id}`, headers: WASM, payload: Buffer.from(bytes) });
  const create = async (name: string, bytes: Uint8Array) => {
    const res = await t.app.inject({ method: 'POST', url: `/modules?name=${name}`, headers: WASM, payload: Buffer.from(bytes) });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  };

  test('regression (issue 15, item 4): the 101st version prunes the oldest, audited; its content goes when unreferenced and stays while another module uses it', async () => {
    const only = constModule(7001); // version 1 of "pruned" only
    const shared = constModule(7002); // version 1 of "keeper", and of "other" too
    const later = constModule(7003);
    const pruned = await create('pruned', only);
    const keeper = await create('keeper', shared);
    const other = await create('other', shared);
    for (let i = 2; i <= 100; i++) {
      assert.equal((await put(pruned, later)).statusCode, 200);
      assert.equal((await put(keeper, later)).statusCode, 200);
    }
    // Version 1 read (and cached) just before it goes.
    assert.equal((await t.app.inject({ url: `/modules/${pruned}/versions/1` })).statusCode, 200);
    assert.ok(await blobStored(t.app, sha256Hex(only)));
    const before = await t.app.services.store.reader.tenantBytes('default');

    const v101 = await put(pruned, later);
    assert.equal(v101.json().version, 101);
    assert.equal((await t.app.inject({ url: `/modules/${pruned}/versions/1` })).json().error.code, 'VERSION_NOT_FOUND');
    const versions = (await t.app.inject({ url: `/modules/${pruned}/versions?limit=100` })).json();
    assert.equal(versions.items.length, 100);
    assert.equal(versions.items.at(-1).version, 2);
    assert.equal(versions.next_cursor, null);
    assert.equal(await blobStored(t.app, sha256Hex(only)), false, 'nothing else used its content: gone');
    assert.equal(await t.app.services.store.reader.tenantBytes('default'), before + later.length - only.length, 'the pruned bytes are given back');

    const audit = await t.app.inject({ url: '/audit?limit=5' });
    const entry = (audit.json().items as Array<{ action: string; target: string; actor: string; details: Record<string, unknown> }>).find((e) => e.action === 'module.prune');
    assert.equal(entry?.target, pruned);
    assert.equal(entry?.actor, 'testadmin');
    assert.deepEqual(entry?.details, { versions: [1], bytes: only.length, max_versions: 100, by_version: 101 });

    assert.equal((await put(keeper, later)).json().version, 101);
    assert.equal((await t.app.inject({ url: `/modules/${keeper}/versions/1` })).statusCode, 404);
    assert.ok(await blobStored(t.app, sha256Hex(shared)), '"other" still uses that content: kept');
    const content = await t.app.inject({ url: `/modules/${other}/content` });
    assert.equal(content.statusCode, 200);
    assert.deepEqual(new Uint8Array(content.rawPayload), shared);
  });
});

describe('limits.max_versions with a rollback', () => {
  let t: TestApp;

  before(async () => {
    t = await startApp({ limits: { max_versions: 3 } });
  });
  after(() => t.close());

  test('regression (issue 15, item 4): the content a rollback made current again outlives the version it came from', async () => {
    const first = constModule(8001);
    const res = await t.app.inject({ method: 'POST', url: '/modules?name=r', headers: WASM, payload: Buffer.from(first) });
    const id = res.json().id as string;
    for (const n of [8002, 8003]) await t.app.inject({ method: 'PUT', url: `/modules/${id}`, headers: WASM, payload: Buffer.from(constModule(n)) });
    const rollback = await t.app.inject({ method: 'POST', url: `/modules/${id}/rollback`, payload: { version: 1 } });
    assert.equal(rollback.json().version, 4, 'version 4 has version 1\'s content, and version 1 is pruned');
    assert.equal((await t.app.inject({ url: `/modules/${id}/versions/1` })).statusCode, 404);
    const run = await t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: { function: 'f', args: [] } });
    assert.deepEqual(run.json().results, [8001], 'the current version runs: its content stayed');
    assert.ok(await blobStored(t.app, sha256Hex(first)));
    const versions = (await t.app.inject({ url: `/modules/${id}/versions` })).json().items as Array<{ version: number }>;
    assert.deepEqual(versions.map((v) => v.version), [4, 3, 2]);
  });
});
