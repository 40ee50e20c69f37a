import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db } from '../../src/store/level/db.js';
import { decodeBlobPointer } from '../../src/store/level/codec.js';
import { blobKey, contentKey } from '../../src/store/level/keys.js';
import { Reader } from '../../src/store/reader.js';
import { LevelRecordSource } from '../../src/store/level/record-source.js';
import { content, counter, createModule, openStore } from './helper.js';

describe('Reader', () => {
  it('counts module cache hits and misses', async () => {
    const store = await openStore();
    try {
      const record = await createModule(store, 'a');
      const { cacheHits, cacheMisses } = store.metrics;
      assert.deepEqual(await store.reader.getModule(record.id), record);
      assert.deepEqual(await store.reader.getModule(record.id), record);
      assert.deepEqual(await store.reader.getModule(record.id), record);
      assert.equal(await counter(cacheMisses, 'module'), 1);
      assert.equal(await counter(cacheHits, 'module'), 2);
      assert.equal(await counter(cacheHits, 'content'), 0);
    } finally {
      await store.close();
    }
  });

  it('never returns the old record after an acknowledged update or delete', async () => {
    const store = await openStore();
    try {
      const v1 = await createModule(store, 'a', 'one');
      assert.equal((await store.reader.getModule(v1.id))?.version, 1, 'now cached');
      const v2 = await store.writer.submit({ kind: 'update-module', id: v1.id, name: 'b', content: content('two') });
      assert.deepEqual(await store.reader.getModule(v1.id), v2);
      await store.writer.submit({ kind: 'delete-module', id: v1.id });
      assert.equal(await store.reader.getModule(v1.id), undefined);
      assert.equal(await counter(store.metrics.cacheMisses, 'module'), 3, 'each write invalidated the entry');
    } finally {
      await store.close();
    }
  });

  it('does not cache a record whose read raced with an update (regression: stale entry after invalidation)', async () => {
    const store = await openStore();
    try {
      const v1 = await createModule(store, 'a', 'one');
      // The read fetches v1 from disk, then is held until the update is acknowledged.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const db = store.db;
      const slow: Db = {
        get status() {
          return db.status;
        },
        get: async (key) => {
          const value = await db.get(key);
          await gate;
          return value;
        },
        has: (key) => db.has(key),
        entries: (range) => db.entries(range),
        keys: (range) => db.keys(range),
        snapshot: () => db.snapshot(),
        close: () => db.close(),
        batch: (ops, options) => db.batch(ops, options),
      };
      const reader = new Reader({ source: new LevelRecordSource(slow), cacheSize: 10, ttlSeconds: 60, bus: store.bus, metrics: store.metrics });
      const racing = reader.getModule(v1.id);
      const v2 = await store.writer.submit({ kind: 'update-module', id: v1.id, content: content('two') });
      release();
      assert.equal((await racing)?.version, 1, 'a read concurrent with the write may see the old record');
      assert.deepEqual(await reader.getModule(v1.id), v2, 'but it must not have cached it');
      reader.close();
    } finally {
      await store.close();
    }
  });

  it('hands out frozen records that callers cannot change', async () => {
    const store = await openStore();
    try {
      const record = await createModule(store, 'a');
      const got = (await store.reader.getModule(record.id))!;
      assert.throws(() => {
        got.name = 'changed';
      }, TypeError);
      assert.throws(() => {
        got.exports[0]!.name = 'changed';
      }, TypeError);
      assert.equal((await store.reader.getModule(record.id))?.name, 'a');
    } finally {
      await store.close();
    }
  });

  it('serves content through a cache, as copies the caller may change', async () => {
    const store = await openStore();
    try {
      const record = await createModule(store, 'a');
      const first = (await store.reader.getContent(record.sha256))!;
      assert.deepEqual(first, content('a').content);
      first.fill(0);
      assert.deepEqual(await store.reader.getContent(record.sha256), content('a').content);
      assert.equal(await counter(store.metrics.cacheMisses, 'content'), 1);
      assert.equal(await counter(store.metrics.cacheHits, 'content'), 1);
      assert.equal(await store.reader.getContent('0'.repeat(64)), undefined);
    } finally {
      await store.close();
    }
  });

  it('pages through 25 modules by 10: 10/10/5, each once, in id order', async () => {
    const store = await openStore();
    try {
      await Promise.all(Array.from({ length: 25 }, (_, i) => createModule(store, `m${i}`)));
      const sizes: number[] = [];
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.reader.listModules({ limit: 10, cursor });
        sizes.push(page.items.length);
        ids.push(...page.items.map((m) => m.id));
        cursor = page.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(sizes, [10, 10, 5]);
      assert.equal(new Set(ids).size, 25);
      assert.deepEqual(ids, [...ids].sort());
    } finally {
      await store.close();
    }
  });

  it('returns next_cursor null when the last page is exactly full, and an empty first page', async () => {
    const store = await openStore();
    try {
      assert.deepEqual(await store.reader.listModules({ limit: 10 }), { items: [], next_cursor: null });
      await Promise.all(Array.from({ length: 10 }, (_, i) => createModule(store, `m${i}`)));
      const page = await store.reader.listModules({ limit: 10 });
      assert.equal(page.items.length, 10);
      assert.equal(page.next_cursor, null);
    } finally {
      await store.close();
    }
  });

  it('rejects a bad cursor or limit with VALIDATION', async () => {
    const store = await openStore();
    try {
      for (const cursor of ['%%%', 'not base64!', 'AAA=']) {
        await assert.rejects(store.reader.listModules({ limit: 10, cursor }), { code: 'VALIDATION' }, cursor);
      }
      for (const limit of [0, 101, 1.5]) {
        await assert.rejects(store.reader.listModules({ limit }), { code: 'VALIDATION' }, String(limit));
      }
    } finally {
      await store.close();
    }
  });

  it('refuses to serve content whose bytes no longer match their hash', async () => {
    const store = await openStore();
    try {
      const record = await createModule(store, 'a');
      // Corrupt the bytes underneath the writer (same length, one byte flipped), then read through a reader with a cold cache.
      const pointer = decodeBlobPointer((await store.db.get(blobKey(record.sha256))) ?? new Uint8Array(0));
      assert.ok(pointer);
      const bytes = Uint8Array.from((await store.db.get(contentKey(pointer.c))) ?? []);
      bytes[0] = (bytes[0] as number) ^ 0xff;
      await store.db.batch([{ type: 'put', key: contentKey(pointer.c), value: bytes }], {
        sync: true,
      });
      const fresh = new Reader({ source: new LevelRecordSource(store.db), cacheSize: 10, ttlSeconds: 60, bus: store.bus, metrics: store.metrics });
      await assert.rejects(fresh.getContent(record.sha256), (err: { code: string; message: string }) => {
        assert.equal(err.code, 'CONTENT_CORRUPT');
        assert.match(err.message, new RegExp(record.sha256));
        return true;
      });
      fresh.close();
    } finally {
      await store.close();
    }
  });
});
