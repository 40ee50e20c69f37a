import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EventBus } from '../../src/events.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { withAtomicFile, restoreArchive } from '../../src/store/level/backup-files.js';
import { backupStream, readArchive } from '../../src/store/level/backup.js';
import { readBlob } from '../../src/store/level/blobs.js';
import { sha256Hex } from '../../src/hash.js';
import { decodeBlobPointer, encodeRecord, encodeSchemaVersion, encodeVersion } from '../../src/store/level/codec.js';
import { openDb, type Db, type DbOp } from '../../src/store/level/db.js';
import { versionOf } from '../../src/store/records.js';
import { blobKey, contentKey, moduleKey, refKey, SCHEMA_KEY, SCHEMA_VERSION, tenantModuleKey, versionKey } from '../../src/store/level/keys.js';
import { ensureSchema } from '../../src/store/level/migrate.js';
import type { ModuleRecord } from '../../src/store/types.js';
import { Writer } from '../../src/store/level/writer.js';
import { content, createModule, histogram, keysWithPrefix, openStore } from './helper.js';
import { dump } from './transfer-helper.js';
import { backupKey } from '../../src/store/backup-key.js';

const KEY = backupKey('blobs-test-backup-key-0123456789abcdef');

const EMPTY = new Uint8Array(0);
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

/** The pointer stored under `b!<sha256>`; fails the test when there is none. */
async function pointerOf(db: Db, sha256: string): Promise<{ c: string; size: number }> {
  const pointer = decodeBlobPointer((await db.get(blobKey(sha256))) ?? EMPTY);
  assert.ok(pointer, `b!${sha256} holds a pointer`);
  return pointer;
}

/**
 * Writes modules into `db` as schema 3 stored them (bytes under `b!<sha256>`), one per label; a
 * label used twice shares its blob. Returns label → the content's sha256 and bytes.
 */
async function writeSchema3(db: Db, labels: readonly string[]): Promise<Map<string, { sha256: string; bytes: Uint8Array }>> {
  const ops: DbOp[] = [{ type: 'put', key: SCHEMA_KEY, value: encodeSchemaVersion(3) }];
  const blobs = new Map<string, { sha256: string; bytes: Uint8Array }>();
  for (const label of labels) {
    const { sha256, content: bytes, exports, memory } = content(label);
    const id = randomUUID();
    const record: ModuleRecord = { id, tenant: 'default', name: label, version: 1, sha256, size: bytes.byteLength, exports, memory, kind: 'functions', created_at: 't1', updated_at: 't1' };
    ops.push(
      { type: 'put', key: moduleKey(id), value: encodeRecord(record) },
      { type: 'put', key: versionKey(id, 1), value: encodeVersion(versionOf(record)) },
      { type: 'put', key: refKey(sha256, id, 1), value: EMPTY },
      { type: 'put', key: tenantModuleKey('default', id), value: EMPTY },
      { type: 'put', key: blobKey(sha256), value: bytes },
    );
    blobs.set(label, { sha256, bytes });
  }
  await db.batch(ops, { sync: true });
  return blobs;
}

/** Every `b!` is a pointer whose `c!` bytes hash to it, and every `c!` key is named by exactly one pointer (schema 4 and later). */
async function checkSchema4(db: Db): Promise<void> {
  assert.equal(text(await db.get(SCHEMA_KEY)), '6');
  const named: string[] = [];
  for (const key of await keysWithPrefix(db, 'b!')) {
    const sha256 = key.slice(2);
    named.push(contentKey((await pointerOf(db, sha256)).c));
    const bytes = await readBlob(db, sha256);
    assert.ok(bytes, key);
    assert.equal(sha256Hex(bytes), sha256, `${key}'s bytes`);
  }
  assert.deepEqual(await keysWithPrefix(db, 'c!'), named.sort(), 'no c! key without its pointer');
}

describe('blobs (schema 4): a pointer under b!<sha256>, the bytes under c!<content id>', () => {
  it('stores the bytes under a time-ordered content id, named by a small ASCII pointer', async () => {
    const store = await openStore();
    try {
      const records = [];
      for (const label of ['first', 'second', 'third']) records.push(await createModule(store, label));
      const ids = [];
      for (const [i, record] of records.entries()) {
        const raw = text(await store.db.get(blobKey(record.sha256)));
        const pointer = await pointerOf(store.db, record.sha256);
        assert.equal(raw, JSON.stringify({ c: pointer.c, size: record.size }), 'the documented pointer shape');
        assert.deepEqual(await store.db.get(contentKey(pointer.c)), content(['first', 'second', 'third'][i] as string).content);
        ids.push(contentKey(pointer.c));
      }
      assert.deepEqual(await keysWithPrefix(store.db, 'c!'), ids, 'content ids sort in the order the blobs were written');
    } finally {
      await store.close();
    }
  });

  it('dedups by sha256, and the last reference gone takes the pointer and the bytes in the same batch', async () => {
    const store = await openStore();
    try {
      const keep = await createModule(store, 'keep', 'shared');
      const keepPointer = await pointerOf(store.db, keep.sha256);
      const yId = randomUUID();
      const zId = randomUUID();
      // One batch: a dedup onto a stored blob, a new blob, and a delete of the module that staged it.
      const [y] = await Promise.all([
        store.writer.submit({ kind: 'create-module', id: yId, tenant: 'default', name: 'y', content: content('shared') }),
        store.writer.submit({ kind: 'create-module', id: zId, tenant: 'default', name: 'z', content: content('gone') }),
        store.writer.submit({ kind: 'delete-module', id: zId }),
      ]);
      assert.equal((await histogram(store.metrics.writerBatchSize)).count, 2, 'the three went in one batch');
      assert.deepEqual(await pointerOf(store.db, y.sha256), keepPointer, 'the dedup kept the stored blob');
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), [blobKey(keep.sha256)]);
      assert.deepEqual(await keysWithPrefix(store.db, 'c!'), [contentKey(keepPointer.c)], 'the deleted module staged no bytes that stayed');

      await store.writer.submit({ kind: 'update-module', id: keep.id, content: content('next') });
      await store.writer.submit({ kind: 'delete-module', id: keep.id });
      assert.deepEqual(await store.reader.getContent(keep.sha256), content('shared').content, 'y still references it');
      await store.writer.submit({ kind: 'delete-module', id: yId });
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), []);
      assert.deepEqual(await keysWithPrefix(store.db, 'c!'), [], 'no orphan bytes');
    } finally {
      await store.close();
    }
  });

  it('a batch of uploads reads the database once (one getMany), plus the stored bytes once per upload that dedups onto them', async () => {
    const store = await openStore();
    const calls = { get: 0, has: 0, getMany: 0 };
    const db = store.db;
    const counted: Db = {
      get status() {
        return db.status;
      },
      get: (key) => (calls.get++, db.get(key)),
      has: (key) => (calls.has++, db.has(key)),
      getMany: (keys) => (calls.getMany++, (db.getMany as NonNullable<Db['getMany']>)(keys)),
      entries: (range) => db.entries(range),
      keys: (range) => db.keys(range),
      batch: (ops, options) => db.batch(ops, options),
      snapshot: () => db.snapshot(),
      close: () => db.close(),
    };
    const metrics = createMetrics();
    const writer = await Writer.start({ db: counted, bus: new EventBus(), queueLimit: 100, metrics, logger: createLogger('silent') });
    try {
      await createModule(store, 'stored', 'shared');
      Object.assign(calls, { get: 0, has: 0, getMany: 0 });
      const labels = ['shared', 'a', 'a', 'b', 'shared', 'c'];
      await Promise.all(labels.map((label, i) => writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'default', name: `m${i}`, content: content(label) })));
      const batches = (await histogram(metrics.writerBatchSize)).count;
      // The two 'shared' uploads dedup onto bytes already stored: each reads and hashes them first (a
      // damaged blob is replaced, not reused). The second 'a' dedups onto bytes staged in its batch.
      assert.deepEqual(calls, { get: 2, has: 0, getMany: batches });
      assert.equal((await keysWithPrefix(store.db, 'c!')).length, 4, "'shared', 'a', 'b' and 'c' once each");
    } finally {
      await writer.close();
      await store.close();
    }
  });

  it('refuses a pointer that is damaged or names missing bytes (CONTENT_CORRUPT), and reads a blob deleted meanwhile as absent', async () => {
    const store = await openStore();
    try {
      const record = await createModule(store, 'a');
      const pointer = await pointerOf(store.db, record.sha256);
      await store.db.batch([{ type: 'del', key: contentKey(pointer.c) }], { sync: true });
      await assert.rejects(readBlob(store.db, record.sha256), { code: 'CONTENT_CORRUPT', message: /are missing/ });
      await store.db.batch([{ type: 'put', key: blobKey(record.sha256), value: new TextEncoder().encode('{"c":"x"}') }], { sync: true });
      await assert.rejects(readBlob(store.db, record.sha256), { code: 'CONTENT_CORRUPT', message: /unreadable/ });

      // The pointer is there on the first look and gone on the second: a delete landed in between.
      const other = await createModule(store, 'b');
      const racing: Pick<Db, 'get'> = {
        get: async (key) => {
          const value = await store.db.get(key);
          if (key === blobKey(other.sha256) && value) await store.writer.submit({ kind: 'delete-module', id: other.id });
          return value;
        },
      };
      assert.equal(await readBlob(racing, other.sha256), undefined);
    } finally {
      await store.close();
    }
  });
});

describe('schema 3 databases', () => {
  it('are migrated at open: every blob moves to a fresh c! key and b! becomes its pointer, in chunks', async () => {
    const store = await openStore();
    try {
      // More blobs than one migration chunk holds (256), two modules sharing one.
      const labels = [...Array.from({ length: 300 }, (_, i) => `blob${i}`), 'blob7'];
      const blobs = await writeSchema3(store.db, labels);
      await store.reopen();
      await checkSchema4(store.db);
      assert.equal((await keysWithPrefix(store.db, 'c!')).length, 300);
      for (const { sha256, bytes } of blobs.values()) {
        assert.equal((await pointerOf(store.db, sha256)).size, bytes.byteLength);
        assert.deepEqual(await store.reader.getContent(sha256), bytes);
      }
      // The migrated blobs live and die by their references like new ones.
      for (let page = await store.reader.listModules({ limit: 100 }); page.items.length > 0; page = await store.reader.listModules({ limit: 100 })) {
        await Promise.all(page.items.map(({ id }) => store.writer.submit({ kind: 'delete-module', id })));
      }
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), []);
      assert.deepEqual(await keysWithPrefix(store.db, 'c!'), [], 'no orphan bytes');
    } finally {
      await store.close();
    }
  });

  it('finish a migration that was cut short: moved blobs stay as they are, the rest move, nothing twice', async () => {
    const store = await openStore();
    try {
      const blobs = await writeSchema3(store.db, ['one', 'two', 'three', 'four']);
      // As a crash after the first chunk leaves it: some blobs moved (both keys), the schema still 3.
      const moved = [blobs.get('one'), blobs.get('three')].map((b) => b as { sha256: string; bytes: Uint8Array });
      const ops: DbOp[] = [];
      for (const [i, { sha256, bytes }] of moved.entries()) {
        const c = ['01900000-0000-7000-8000-000000000001', '01900000-0000-7000-8000-000000000002'][i] as string;
        ops.push({ type: 'put', key: contentKey(c), value: bytes }, { type: 'put', key: blobKey(sha256), value: new TextEncoder().encode(JSON.stringify({ c, size: bytes.byteLength })) });
      }
      await store.db.batch(ops, { sync: true });
      const before = await dump(store.db, ['b!', 'c!'], { raw: true });
      await store.reopen();
      await checkSchema4(store.db);
      const after = await dump(store.db, ['b!', 'c!'], { raw: true });
      for (const { sha256 } of moved) assert.equal(after.get(blobKey(sha256)), before.get(blobKey(sha256)), 'a moved blob keeps its pointer');
      assert.equal((await keysWithPrefix(store.db, 'c!')).length, 4, 'each blob once');
      for (const { sha256, bytes } of blobs.values()) assert.deepEqual(await store.reader.getContent(sha256), bytes);

      // Run again over a fully migrated store (the schema number written back to 3): nothing changes.
      await store.db.batch([{ type: 'put', key: SCHEMA_KEY, value: encodeSchemaVersion(3) }], { sync: true });
      await ensureSchema(store.db);
      assert.deepEqual(await dump(store.db, ['b!', 'c!'], { raw: true }), after);
      assert.equal(text(await store.db.get(SCHEMA_KEY)), '6');
    } finally {
      await store.close();
    }
  });

  it('a schema-3 backup restores as it is and is migrated when the store is opened', async () => {
    const store = await openStore();
    const restored = join(store.dir, 'restored');
    try {
      const blobs = await writeSchema3(store.db, ['x', 'y', 'x']);
      const archive = join(store.dir, 'schema3.wessbak');
      await withAtomicFile(archive, async (write) => {
        for await (const chunk of backupStream(store.db, KEY)) await write(chunk as Buffer);
      });
      // The store's fake contents ("\0asm fixture x") are no modules: admission is not what this is about.
      const summary = await restoreArchive(archive, restored, { key: KEY, admit: async () => {} });
      assert.equal(summary.header.schema, 3);
      const db = await openDb(restored, { maxOpenFiles: 50 });
      try {
        assert.equal(text(await db.get(SCHEMA_KEY)), '3', 'restored as it was archived');
        await ensureSchema(db);
        await checkSchema4(db);
        for (const { sha256, bytes } of blobs.values()) assert.deepEqual(await readBlob(db, sha256), bytes);
        // A backup of the migrated store says schema 5.
        const chunks: Uint8Array[] = [];
        for await (const chunk of backupStream(db, KEY)) chunks.push(chunk as Buffer);
        assert.equal((await readArchive(chunks, {}, { key: KEY })).header.schema, SCHEMA_VERSION);
      } finally {
        await db.close();
      }
    } finally {
      await store.close();
    }
  });
  it('regression (issue 7, corruption suite): uploading the bytes of damaged content again repairs it instead of deduplicating onto it', async () => {
    const store = await openStore();
    try {
      const record = await createModule(store, 'first', 'same');
      const pointer = await pointerOf(store.db, record.sha256);
      const damaged = Uint8Array.from((await store.db.get(contentKey(pointer.c))) ?? EMPTY);
      damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 0xff;
      await store.db.batch([{ type: 'put', key: contentKey(pointer.c), value: damaged }], { sync: true });
      assert.notEqual(sha256Hex((await readBlob(store.db, record.sha256)) ?? EMPTY), record.sha256, 'damaged on disk');
      await createModule(store, 'second', 'same');
      assert.equal(sha256Hex((await readBlob(store.db, record.sha256)) ?? EMPTY), record.sha256, 'whole again');
      assert.deepEqual(await keysWithPrefix(store.db, 'c!'), [contentKey((await pointerOf(store.db, record.sha256)).c)], 'the damaged bytes are gone, no orphan');
    } finally {
      await store.close();
    }
  });

  it('regression (issue 7, corruption suite): a block LevelDB refuses (LEVEL_CORRUPTION) reads as CONTENT_CORRUPT, not an internal error', async () => {
    const refused = Object.assign(new Error('Corruption: block checksum mismatch'), { code: 'LEVEL_CORRUPTION' });
    const pointer = new TextEncoder().encode(JSON.stringify({ c: '01900000-0000-7000-8000-000000000000', size: 3 }));
    const source = { get: async (key: string) => (key.startsWith('b!') ? pointer : Promise.reject(refused)) };
    await assert.rejects(readBlob(source, 'a'.repeat(64)), { code: 'CONTENT_CORRUPT', message: /cannot read it \(Corruption: block checksum mismatch\)/ });
  });
});
