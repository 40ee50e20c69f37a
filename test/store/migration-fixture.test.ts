import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { decodeBlobPointer } from '../../src/store/level/codec.js';
import type { Db } from '../../src/store/level/db.js';
import { blobRange, contentRange } from '../../src/store/level/keys.js';
import { ROOT, startApp } from '../helper.js';
import { levelDb } from './level.js';

// A real schema-2 database, written by the Wess of that time (see its README.md for how).
const FIXTURE = fileURLToPath(new URL('test/fixtures/db/schema-2/', ROOT));
const EXPECTED = fileURLToPath(new URL('test/fixtures/db/schema-2.expected.json', ROOT));

interface Expected {
  deleted: string;
  modules: Array<{ module: Record<string, unknown> & { id: string; sha256: string }; versions: { items: Array<{ version: number; sha256: string }> } }>;
}

/** Every `b!` is a pointer (schema 4) to `c!` bytes that hash to its sha256; no `c!` key is left unnamed. */
async function checkBlobsMoved(db: Db): Promise<void> {
  const named: string[] = [];
  for await (const [key, value] of db.entries(blobRange())) {
    const pointer = decodeBlobPointer(value);
    assert.ok(pointer, `${key} holds a pointer`);
    const bytes = await db.get(`c!${pointer.c}`);
    assert.ok(bytes, `the bytes ${key} points at`);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), key.slice(2));
    named.push(`c!${pointer.c}`);
  }
  assert.ok(named.length > 0);
  const stored: string[] = [];
  for await (const key of db.keys(contentRange())) stored.push(key);
  assert.deepEqual(stored, named.sort());
}

/** Name → sha256 of every file in `dir`, to prove the fixture is never written. */
async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = createHash('sha256').update(await readFile(join(dir, name))).digest('hex');
  return out;
}

test('a schema-2 database made by the previous code opens, migrates to schema 5 and keeps everything', async () => {
  const expected = JSON.parse(await readFile(EXPECTED, 'utf8')) as Expected;
  const before = await fingerprint(FIXTURE);
  const dir = await mkdtemp(join(tmpdir(), 'wess-schema2-'));
  await cp(FIXTURE, dir, { recursive: true });
  const t = await startApp({}, dir);
  try {
    assert.equal(Buffer.from((await levelDb(t.app).get('meta!schema')) ?? []).toString(), '6');
    await checkBlobsMoved(levelDb(t.app));
    const list = await t.app.inject({ url: '/modules?limit=100' });
    assert.deepEqual(
      list.json().items.map((m: { id: string }) => m.id).sort(),
      expected.modules.map((m) => m.module.id).sort(),
    );
    for (const { module, versions } of expected.modules) {
      const got = await t.app.inject({ url: `/modules/${module.id}` });
      assert.deepEqual(got.json(), { ...module, tenant: 'default' }, 'every field as the old server answered, plus its tenant');
      const history = await t.app.inject({ url: `/modules/${module.id}/versions?limit=100` });
      assert.deepEqual(history.json(), versions);
      for (const { version, sha256 } of versions.items) {
        const content = await t.app.inject({ url: `/modules/${module.id}/versions/${version}/content` });
        assert.equal(content.statusCode, 200);
        assert.equal(createHash('sha256').update(content.rawPayload).digest('hex'), sha256);
      }
    }
    assert.equal((await t.app.inject({ url: `/modules/${expected.deleted}` })).statusCode, 404);
    const calc = expected.modules[0]?.module.id as string;
    const run = await t.app.inject({ method: 'POST', url: `/modules/${calc}/run`, payload: { function: 'add', args: [40, 2] } });
    assert.deepEqual(run.json().results, [42]);
    const tenant = await t.app.inject({ url: '/modules?tenant=default&limit=100' });
    assert.equal(tenant.json().items.length, expected.modules.length);
  } finally {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  }
  assert.deepEqual(await fingerprint(FIXTURE), before, 'the fixture in the repo is untouched');
});
