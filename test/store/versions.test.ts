import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ModuleEvents } from '../../src/events.js';
import { encodeRecord, encodeSchemaVersion } from '../../src/store/level/codec.js';
import { blobKey, legacyRefKey, moduleKey, refKey, SCHEMA_KEY, tenantModuleKey, versionKey } from '../../src/store/level/keys.js';
import { ensureSchema } from '../../src/store/level/migrate.js';
import type { ModuleRecord } from '../../src/store/types.js';
import type { DbOp } from '../../src/store/level/db.js';
import { content, counter, createModule, keysWithPrefix, openStore, type Store } from './helper.js';

/** Creates a module and updates it to each further label: one version per label. */
async function withHistory(store: Store, ...labels: [string, ...string[]]): Promise<ModuleRecord[]> {
  const [first, ...rest] = labels;
  const records = [await createModule(store, 'calc', first)];
  for (const label of rest) {
    records.push(await store.writer.submit({ kind: 'update-module', id: records[0]!.id, content: content(label) }));
  }
  return records;
}

describe('module history', () => {
  it('keeps a readable record of every version, listed newest first', async () => {
    const store = await openStore();
    try {
      const [v1, , v3] = await withHistory(store, 'one', 'two', 'three');
      const id = v1!.id;
      const old = await store.reader.getVersion(id, 1);
      assert.deepEqual(old, {
        id, version: 1, name: 'calc', sha256: v1!.sha256, size: v1!.size,
        exports: v1!.exports, memory: v1!.memory, kind: 'functions', created_at: v1!.updated_at,
      });
      assert.equal((await store.reader.getVersion(id, 3))?.sha256, v3!.sha256, 'the current version has a record too');
      assert.equal(await store.reader.getVersion(id, 4), undefined);
      const page = await store.reader.listVersions(id, { limit: 10 });
      assert.deepEqual(page.items.map((v) => [v.version, v.sha256]), [3, 2, 1].map((n) => [n, content(['one', 'two', 'three'][n - 1]!).sha256]));
      assert.deepEqual(Object.keys(page.items[0]!).sort(), ['created_at', 'name', 'sha256', 'size', 'version']);
      assert.equal(page.next_cursor, null);
    } finally {
      await store.close();
    }
  });

  it('pages through versions by cursor and rejects a cursor it did not make', async () => {
    const store = await openStore();
    try {
      const [v1] = await withHistory(store, '1', '2', '3', '4', '5');
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.reader.listVersions(v1!.id, { limit: 2, cursor });
        seen.push(...page.items.map((v) => v.version));
        cursor = page.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(seen, [5, 4, 3, 2, 1]);
      for (const bad of ['%%%', Buffer.from('0').toString('base64url'), Buffer.from('x1').toString('base64url')]) {
        await assert.rejects(store.reader.listVersions(v1!.id, { limit: 2, cursor: bad }), { code: 'VALIDATION' }, bad);
      }
      assert.deepEqual(await store.reader.listVersions(randomUUID(), { limit: 2 }), { items: [], next_cursor: null });
    } finally {
      await store.close();
    }
  });

  it('stores content once when versions share it, with one reference per version', async () => {
    const store = await openStore();
    try {
      const [v1] = await withHistory(store, 'same', 'same', 'other', 'same');
      const sha = content('same').sha256;
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), [blobKey(sha), blobKey(content('other').sha256)].sort());
      assert.deepEqual(await keysWithPrefix(store.db, `r!${sha}`), [1, 2, 4].map((n) => refKey(sha, v1!.id, n)));
    } finally {
      await store.close();
    }
  });

  it('passes the module kind through to the record and its versions; a record without one reads as functions', async () => {
    const store = await openStore();
    try {
      const id = randomUUID();
      const wasi = await store.writer.submit({ kind: 'create-module', id, tenant: 'default', name: 'cli', content: { ...content('w'), kind: 'wasi' } });
      assert.equal(wasi.kind, 'wasi');
      assert.equal((await store.reader.getVersion(id, 1))?.kind, 'wasi');
      const { kind: _dropped, ...legacy } = wasi;
      await store.db.batch([{ type: 'put', key: moduleKey(id), value: encodeRecord(legacy as ModuleRecord) }], { sync: true });
      await store.reopen();
      assert.equal((await store.reader.getModule(id))?.kind, 'functions');
    } finally {
      await store.close();
    }
  });

  it('keeps the history across a restart', async () => {
    const store = await openStore();
    try {
      const [v1] = await withHistory(store, 'one', 'two');
      const before = await store.reader.listVersions(v1!.id, { limit: 10 });
      await store.reopen();
      assert.deepEqual(await store.reader.listVersions(v1!.id, { limit: 10 }), before);
      assert.deepEqual(await store.reader.getContent(content('one').sha256), content('one').content);
    } finally {
      await store.close();
    }
  });
});

describe('rollback', () => {
  it('makes an old version current again as a new version, and says so in its event', async () => {
    const store = await openStore();
    try {
      const [v1] = await withHistory(store, 'one', 'two');
      await store.writer.submit({ kind: 'rename-module', id: v1!.id, name: 'renamed' });
      const events: ModuleEvents['module.updated'][] = [];
      store.bus.on('module.updated', (e) => events.push(e));
      const v4 = await store.writer.submit({ kind: 'rollback-module', id: v1!.id, toVersion: 1 });
      assert.deepEqual(
        [v4.version, v4.sha256, v4.name, v4.created_at],
        [4, v1!.sha256, 'calc', v1!.created_at],
        'content and name of version 1, a new version number, the module still created when it was',
      );
      assert.deepEqual(await store.reader.getModule(v1!.id), v4);
      assert.equal(events[0]?.rollback_from, 1);
      assert.equal(events[0]?.previous_sha256, content('two').sha256);
      assert.deepEqual((await store.reader.listVersions(v1!.id, { limit: 10 })).items.map((v) => v.version), [4, 3, 2, 1]);
      const again = await store.writer.submit({ kind: 'rollback-module', id: v1!.id, toVersion: 4 });
      assert.equal(again.version, 5, 'rolling back to the current version still adds one');
    } finally {
      await store.close();
    }
  });

  it('refuses a version the module never had, and a module that does not exist', async () => {
    const store = await openStore();
    try {
      const v1 = await createModule(store, 'a');
      await assert.rejects(store.writer.submit({ kind: 'rollback-module', id: v1.id, toVersion: 2 }), { code: 'VERSION_NOT_FOUND' });
      await assert.rejects(store.writer.submit({ kind: 'rollback-module', id: randomUUID(), toVersion: 1 }), { code: 'MODULE_NOT_FOUND' });
      assert.equal((await store.reader.getModule(v1.id))?.version, 1);
    } finally {
      await store.close();
    }
  });
});

describe('If-Match in the writer', () => {
  it('refuses every guarded message whose expected version is stale, and applies a fresh one', async () => {
    const store = await openStore();
    try {
      const [v1] = await withHistory(store, 'one', 'two');
      const id = v1!.id;
      const stale = [
        { kind: 'update-module', id, content: content('x'), expectVersion: 1 },
        { kind: 'rename-module', id, name: 'x', expectVersion: 1 },
        { kind: 'rollback-module', id, toVersion: 1, expectVersion: 1 },
        { kind: 'delete-module', id, expectVersion: 1 },
      ] as const;
      for (const msg of stale) {
        await assert.rejects(store.writer.submit(msg), (err: { code: string; message: string; details: unknown }) => {
          assert.equal(err.code, 'VERSION_CONFLICT', msg.kind);
          assert.match(err.message, /is at version 2, not version 1/);
          assert.deepEqual(err.details, { current_version: 2, expected_version: 1 });
          return true;
        });
      }
      const v3 = await store.writer.submit({ kind: 'rollback-module', id, toVersion: 1, expectVersion: 2 });
      assert.equal(v3.version, 3);
      await store.writer.submit({ kind: 'delete-module', id, expectVersion: 3 });
      assert.equal(await store.reader.getModule(id), undefined);
    } finally {
      await store.close();
    }
  });

  it('lets exactly one of two updates expecting the same version win, even inside one batch', async () => {
    const store = await openStore();
    try {
      const v1 = await createModule(store, 'a', 'one');
      const results = await Promise.allSettled([
        store.writer.submit({ kind: 'update-module', id: v1.id, content: content('A'), expectVersion: 1 }),
        store.writer.submit({ kind: 'update-module', id: v1.id, content: content('B'), expectVersion: 1 }),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected']);
      assert.equal((results[1] as PromiseRejectedResult).reason.code, 'VERSION_CONFLICT');
      assert.equal((await store.reader.getModule(v1.id))?.sha256, content('A').sha256);
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), [blobKey(content('one').sha256), blobKey(content('A').sha256)].sort(), 'the loser left no blob');
    } finally {
      await store.close();
    }
  });
});

describe('delete with history', () => {
  it('removes the module, every version, every reference and each blob no one else uses, in one batch', async () => {
    const store = await openStore();
    try {
      const [v1] = await withHistory(store, 'shared', 'mine', 'also-mine');
      const other = await createModule(store, 'other', 'x');
      await store.writer.submit({ kind: 'update-module', id: other.id, content: content('shared') });
      await store.writer.submit({ kind: 'update-module', id: other.id, content: content('y') });
      const batchesBefore = store.writer.stats().batches;
      await store.writer.submit({ kind: 'delete-module', id: v1!.id });
      assert.equal(store.writer.stats().batches, batchesBefore + 1);
      assert.deepEqual(await keysWithPrefix(store.db, `v!${v1!.id}`), []);
      assert.deepEqual(await keysWithPrefix(store.db, `m!${v1!.id}`), []);
      const refs = await keysWithPrefix(store.db, 'r!');
      assert.ok(!refs.some((key) => key.includes(v1!.id)), refs.join());
      const blobs = ['x', 'shared', 'y'].map((l) => blobKey(content(l).sha256)).sort();
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), blobs, "an old version of another module keeps 'shared' alive");
    } finally {
      await store.close();
    }
  });

  it('forgets cached versions of a deleted module', async () => {
    const store = await openStore();
    try {
      const [v1] = await withHistory(store, 'one', 'two');
      const id = v1!.id;
      assert.ok(await store.reader.getVersion(id, 1));
      assert.ok(await store.reader.getVersion(id, 1));
      assert.equal(await counter(store.metrics.cacheHits, 'version'), 1);
      const got = (await store.reader.getVersion(id, 1))!;
      assert.throws(() => {
        got.name = 'changed';
      }, TypeError, 'cached versions are frozen');
      await store.writer.submit({ kind: 'delete-module', id });
      assert.equal(await store.reader.getVersion(id, 1), undefined);
    } finally {
      await store.close();
    }
  });
});

describe('schema 1 databases', () => {
  it('are migrated at open (through schemas 2 and 3 to 4): version records, per-version references, tenant "default"', async () => {
    const store = await openStore();
    try {
      // A database as schema 1 wrote it: a current record, one reference per module, no versions.
      const { sha256, content: bytes, exports, memory } = content('legacy');
      const id = randomUUID();
      const legacy = { id, name: 'old', version: 3, sha256, size: bytes.byteLength, exports, memory, created_at: 't1', updated_at: 't2' };
      await store.db.batch(
        [
          { type: 'put', key: SCHEMA_KEY, value: encodeSchemaVersion(1) },
          { type: 'put', key: moduleKey(id), value: encodeRecord(legacy as ModuleRecord) },
          { type: 'put', key: blobKey(sha256), value: bytes },
          { type: 'put', key: legacyRefKey(sha256, id), value: new Uint8Array(0) },
        ],
        { sync: true },
      );
      await store.reopen();
      assert.equal(new TextDecoder().decode(await store.db.get(SCHEMA_KEY)), '6');
      assert.deepEqual(await keysWithPrefix(store.db, 'r!'), [refKey(sha256, id, 3)]);
      assert.equal(await store.reader.tenantBytes('default'), bytes.byteLength, 'what the tenant holds is counted');
      assert.deepEqual(await store.reader.getContent(sha256), bytes, 'the bytes moved under a content id');
      assert.deepEqual(await keysWithPrefix(store.db, 't!'), [tenantModuleKey('default', id)]);
      assert.equal((await store.reader.getModule(id))?.tenant, 'default');
      assert.deepEqual(await keysWithPrefix(store.db, 'v!'), [versionKey(id, 3)]);
      assert.deepEqual((await store.reader.getVersion(id, 3))?.created_at, 't2');
      assert.equal((await store.reader.getModule(id))?.kind, 'functions');
      const v4 = await store.writer.submit({ kind: 'update-module', id, content: content('new') });
      assert.equal(v4.version, 4);
      await store.writer.submit({ kind: 'delete-module', id });
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), [], 'the migrated reference is dropped with the module');
      assert.deepEqual(await keysWithPrefix(store.db, 'c!'), [], 'and so are the bytes it pointed at');
      assert.deepEqual(await keysWithPrefix(store.db, 't!'), [], 'and so is its tenant index key');
    } finally {
      await store.close();
    }
  });

  it('schema 2 (no tenants) is migrated at open: every module goes to tenant "default" and is listed there', async () => {
    const store = await openStore();
    try {
      const ids = [randomUUID(), randomUUID()];
      const ops: DbOp[] = [{ type: 'put', key: SCHEMA_KEY, value: encodeSchemaVersion(2) }];
      for (const id of ids) {
        const { sha256, content: bytes, exports, memory } = content(id);
        const v2 = { id, name: 'old', version: 1, sha256, size: bytes.byteLength, exports, memory, kind: 'functions', created_at: 't1', updated_at: 't1' };
        ops.push(
          { type: 'put', key: moduleKey(id), value: encodeRecord(v2 as unknown as ModuleRecord) },
          { type: 'put', key: versionKey(id, 1), value: encodeRecord(v2 as unknown as ModuleRecord) },
          { type: 'put', key: blobKey(sha256), value: bytes },
          { type: 'put', key: refKey(sha256, id, 1), value: new Uint8Array(0) },
        );
      }
      await store.db.batch(ops, { sync: true });
      await store.reopen();
      assert.equal(new TextDecoder().decode(await store.db.get(SCHEMA_KEY)), '6');
      const listed = await store.reader.listModules({ limit: 10, tenant: 'default' });
      assert.deepEqual(listed.items.map((m) => m.id).sort(), [...ids].sort());
      assert.ok(listed.items.every((m) => m.tenant === 'default'));
      assert.deepEqual((await store.reader.listModules({ limit: 10, tenant: 'other' })).items, []);
    } finally {
      await store.close();
    }
  });

  it('refuses a database from a newer layout', async () => {
    const store = await openStore();
    try {
      await store.db.batch([{ type: 'put', key: SCHEMA_KEY, value: encodeSchemaVersion(99) }], { sync: true });
      await assert.rejects(ensureSchema(store.db), /schema version 99 is not supported/);
    } finally {
      await store.close();
    }
  });
});
