import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { EventBus } from '../../../src/events.js';
import { createMetrics } from '../../../src/metrics.js';
import { migrate } from '../../../src/store/postgres/migrate.js';
import { PgRecordSource } from '../../../src/store/postgres/record-source.js';
import { Reader } from '../../../src/store/reader.js';
import type { ModulePage, ModuleRecord, VersionPage } from '../../../src/store/types.js';
import { counter, openStore, type Store } from '../helper.js';
import { pgOptions, testDatabase, type TestDatabase } from './pg-helper.js';
import { copyToPostgres, writeModules } from './same-data.js';

/** Every page of a listing, following next_cursor from the start. */
async function allPages<P extends ModulePage | VersionPage>(list: (cursor: string | null) => Promise<P>): Promise<P[]> {
  const pages: P[] = [];
  let cursor: string | null = null;
  do {
    const page: P = await list(cursor);
    pages.push(page);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return pages;
}

describe('PostgreSQL reader: the same answers, cursors and bytes as LevelDB for the same data', pgOptions, () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let level: Store;
  let records: ModuleRecord[];
  let bus: EventBus;
  let metrics: ReturnType<typeof createMetrics>;
  let reader: Reader;

  before(async () => {
    db = await testDatabase();
    pool = db.pool();
    await migrate(pool);
    level = await openStore();
    records = await writeModules(level);
    await copyToPostgres(level.db, pool);
    bus = new EventBus();
    metrics = createMetrics();
    reader = new Reader({ source: new PgRecordSource(pool), bus, metrics, cacheSize: 100, ttlSeconds: 3600 });
  });
  after(async () => {
    reader?.close();
    await level?.close();
    await db?.close();
  });

  test('getModule and getVersion: every record as LevelDB reads it, key order included, frozen', async () => {
    assert.equal(records.length, 11);
    for (const record of records) {
      const got = await reader.getModule(record.id);
      assert.equal(JSON.stringify(got), JSON.stringify(record));
      assert.ok(Object.isFrozen(got) && Object.isFrozen(got?.exports));
      for (let v = 1; v <= record.version; v++) {
        const want = await level.reader.getVersion(record.id, v);
        assert.ok(want, `${record.id} v${v} in LevelDB`);
        assert.equal(JSON.stringify(await reader.getVersion(record.id, v)), JSON.stringify(want));
      }
      assert.equal(await reader.getVersion(record.id, record.version + 1), undefined);
    }
    assert.equal(await reader.getModule('00000000-0000-4000-8000-000000000000'), undefined);
    assert.ok((records.find((r) => r.version === 7)?.files), 'the rolled-back module carries files');
  });

  test('listModules: the same pages and cursor strings, all tenants, one tenant, named ids, at every page size', async () => {
    const only = new Set(records.filter((_, i) => i % 2 === 0).map((r) => r.id));
    for (const limit of [1, 2, 5, 11, 100]) {
      for (const filter of [{}, { tenant: 'acme' }, { tenant: 'beta' }, { tenant: 'nobody' }, { only }, { tenant: 'acme', only }]) {
        const want = await allPages((cursor) => level.reader.listModules({ limit, cursor, ...filter }));
        const got = await allPages((cursor) => reader.listModules({ limit, cursor, ...filter }));
        assert.equal(JSON.stringify(got), JSON.stringify(want), `limit ${limit} ${JSON.stringify({ ...filter, only: filter.only?.size })}`);
      }
    }
    const ids = (await allPages((cursor) => reader.listModules({ limit: 3, cursor }))).flatMap((p) => p.items.map((m) => m.id));
    assert.deepEqual(ids, records.map((r) => r.id).sort(), 'each live module once, in byte order');
  });

  test('listVersions: newest first, the same pages and cursors; a cursor from LevelDB works here', async () => {
    const busy = records.find((r) => r.version === 7) as ModuleRecord;
    assert.equal(busy.version, 7);
    for (const limit of [1, 2, 3, 7, 100]) {
      const want = await allPages((cursor) => level.reader.listVersions(busy.id, { limit, cursor }));
      const got = await allPages((cursor) => reader.listVersions(busy.id, { limit, cursor }));
      assert.equal(JSON.stringify(got), JSON.stringify(want), `limit ${limit}`);
    }
    const first = await level.reader.listVersions(busy.id, { limit: 3 });
    const next = await reader.listVersions(busy.id, { limit: 3, cursor: first.next_cursor });
    assert.deepEqual(next.items.map((v) => v.version), [4, 3, 2]);
    assert.deepEqual(await reader.listVersions('00000000-0000-4000-8000-000000000000', { limit: 10 }), { items: [], next_cursor: null });
  });

  test('bad cursors and limits are VALIDATION, as on LevelDB', async () => {
    for (const cursor of ['%%%', 'not base64!', 'AAA=']) {
      await assert.rejects(reader.listModules({ limit: 10, cursor }), { code: 'VALIDATION' }, cursor);
    }
    const busy = records.find((r) => r.version === 7) as ModuleRecord;
    for (const text of ['0', '01', 'x', '99999999999']) {
      await assert.rejects(reader.listVersions(busy.id, { limit: 10, cursor: Buffer.from(text).toString('base64url') }), { code: 'VALIDATION' }, text);
    }
    for (const limit of [0, 101, 1.5]) await assert.rejects(reader.listModules({ limit }), { code: 'VALIDATION' }, String(limit));
  });

  test('tenantBytes: the stored count, 0 for a tenant with none', async () => {
    for (const tenant of ['acme', 'beta']) {
      const bytes = await reader.tenantBytes(tenant);
      assert.ok(bytes > 0);
      assert.equal(bytes, await level.reader.tenantBytes(tenant));
    }
    assert.equal(await reader.tenantBytes('nobody'), 0);
  });

  test('content: the bytes back through the cache as copies; unknown is undefined; damaged bytes are CONTENT_CORRUPT', async () => {
    const record = records[0] as ModuleRecord;
    const want = await level.reader.getContent(record.sha256);
    const first = await reader.getContent(record.sha256);
    assert.deepEqual(first, want);
    first?.fill(0);
    assert.deepEqual(await reader.getContent(record.sha256), want, 'the cache kept its own bytes');
    assert.equal(await counter(metrics.cacheHits, 'content'), 1);
    assert.equal(await reader.getContent('0'.repeat(64)), undefined);

    // One byte flipped, same length (the size CHECK holds), read through a cold cache.
    const damaged = records[2] as ModuleRecord;
    await pool.query("UPDATE wess_blobs SET bytes = overlay(bytes placing '\\x01'::bytea from 1 for 1) WHERE sha256 = $1", [damaged.sha256]);
    await assert.rejects(reader.getContent(damaged.sha256), (err: { code: string; message: string }) => {
      assert.equal(err.code, 'CONTENT_CORRUPT');
      assert.match(err.message, new RegExp(`content ${damaged.sha256} no longer matches its hash`));
      return true;
    });
  });

  test('cached records are served until the writer\'s event, then read again (and pruned versions dropped)', async () => {
    const record = records[3] as ModuleRecord;
    await reader.getModule(record.id);
    await reader.getVersion(record.id, 1);
    const changed = { ...record, name: 'changed elsewhere' };
    await pool.query('UPDATE wess_modules SET record = $2 WHERE id = $1', [record.id, JSON.stringify(changed)]);
    assert.equal((await reader.getModule(record.id))?.name, record.name, 'cached until told');
    bus.emit('module.updated', { id: record.id, tenant: record.tenant, sha256: record.sha256, version: 1, previous_sha256: record.sha256, pruned_versions: [1] });
    assert.equal((await reader.getModule(record.id))?.name, 'changed elsewhere');
    const misses = await counter(metrics.cacheMisses, 'version');
    await reader.getVersion(record.id, 1);
    assert.equal(await counter(metrics.cacheMisses, 'version'), misses + 1, 'the pruned version was dropped from the cache');
    await pool.query('UPDATE wess_modules SET record = $2 WHERE id = $1', [record.id, JSON.stringify(record)]);
    bus.emit('module.updated', { id: record.id, tenant: record.tenant, sha256: record.sha256, version: 1, previous_sha256: record.sha256 });
  });
});
