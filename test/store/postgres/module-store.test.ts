import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { backupKey } from '../../../src/store/backup-key.js';
import { LevelModuleStore } from '../../../src/store/level/module-store.js';
import { migrate } from '../../../src/store/postgres/migrate.js';
import { PgModuleStore } from '../../../src/store/postgres/module-store.js';
import type { ModuleStore } from '../../../src/store/store.js';
import type { ModuleRecord, VerifyReport } from '../../../src/store/types.js';
import { openStore, type Store } from '../helper.js';
import { pgOptions, testDatabase, type TestDatabase } from './pg-helper.js';
import { copyToPostgres, writeModules } from './same-data.js';

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

/** An export's lines with the header's exported_at blanked: the one field two exports of the same data may differ in. */
async function exportOf(store: ModuleStore, tenant?: string): Promise<string[]> {
  const lines = await collect(store.exportLines({ tenant, modulesEstimate: 7 }));
  const header = JSON.parse(lines[0] ?? '{}') as { exported_at?: string };
  assert.ok(header.exported_at && !Number.isNaN(Date.parse(header.exported_at)));
  return [lines[0]?.replace(header.exported_at, 'T') ?? '', ...lines.slice(1)];
}

function withoutTimes(report: VerifyReport): Omit<VerifyReport, 'started_at' | 'finished_at'> {
  const { started_at: _s, finished_at: _f, ...rest } = report;
  return rest;
}

describe('PostgreSQL module store: count, export, verify, backup', pgOptions, () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let level: Store;
  let records: ModuleRecord[];
  let store: PgModuleStore;
  let levelStore: LevelModuleStore;

  before(async () => {
    db = await testDatabase();
    pool = db.pool();
    await migrate(pool);
    level = await openStore();
    records = await writeModules(level);
    await copyToPostgres(level.db, pool);
    store = new PgModuleStore(pool);
    levelStore = new LevelModuleStore(level.db);
  });
  after(async () => {
    await level?.close();
    await db?.close();
  });

  test('countTenantModules counts each tenant\'s modules now', async () => {
    assert.equal(await store.countTenantModules('acme'), records.filter((r) => r.tenant === 'acme').length);
    assert.equal(await store.countTenantModules('beta'), await levelStore.countTenantModules('beta'));
    assert.equal(await store.countTenantModules('nobody'), 0);
  });

  test('exportLines: line for line LevelDB\'s export of the same data (all tenants, and one)', async () => {
    for (const tenant of [undefined, 'acme', 'beta', 'nobody']) {
      const got = await exportOf(store, tenant);
      assert.deepEqual(got, await exportOf(levelStore, tenant), `tenant ${tenant}`);
      assert.equal(got.length, 2 + (tenant === undefined ? records.length : records.filter((r) => r.tenant === tenant).length));
    }
    const all = await exportOf(store);
    assert.ok(all.some((line) => line.includes('"files":{')), 'a version with files carries its image');
  });

  test('exportLines reads one snapshot: a module deleted while the export streams is still in it, whole', async () => {
    const lines = store.exportLines({ modulesEstimate: records.length })[Symbol.asyncIterator]();
    const header = await lines.next();
    assert.match(String(header.value), /"format":"wess-export"/);
    const first = await lines.next();
    assert.ok(!first.done);
    // The last module in id order, with its versions, deleted and committed by another connection.
    const last = [...records].sort((a, b) => (a.id < b.id ? -1 : 1)).at(-1) as ModuleRecord;
    const saved = await pool.query<{ module_id: string; version: string; record: unknown }>('SELECT module_id, version, record::text AS record FROM wess_versions WHERE module_id = $1', [last.id]);
    await pool.query('DELETE FROM wess_modules WHERE id = $1', [last.id]);
    const rest: string[] = [];
    for (let next = await lines.next(); !next.done; next = await lines.next()) rest.push(next.value);
    const lastLine = JSON.parse(rest.at(-2) ?? '{}') as { id: string; versions: unknown[] };
    assert.equal(lastLine.id, last.id);
    assert.equal(lastLine.versions.length, last.version);
    assert.match(rest.at(-1) ?? '', new RegExp(`"modules":${records.length}`));
    // Put it back for the other tests.
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO wess_modules (id, record) VALUES ($1, $2)', [last.id, JSON.stringify(last)]);
      for (const row of saved.rows) await client.query('INSERT INTO wess_versions (module_id, version, record) VALUES ($1, $2, $3)', [row.module_id, row.version, row.record]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    assert.equal((await exportOf(store)).length, records.length + 2);
  });

  test('an abandoned export gives its connection back', async () => {
    const idle = (): number => pool.idleCount;
    for (let i = 0; i < 15; i++) {
      const lines = store.exportLines({ modulesEstimate: 0 })[Symbol.asyncIterator]();
      await lines.next();
      await lines.return?.(undefined);
    }
    assert.ok(pool.totalCount <= 10 && idle() === pool.totalCount, `${idle()} idle of ${pool.totalCount}`);
    assert.equal(pool.waitingCount, 0);
  });

  test('verify: the same report as LevelDB\'s; a damaged blob is found, and an export refuses it', async () => {
    const clean = await store.verify();
    assert.deepEqual(withoutTimes(clean), withoutTimes(await levelStore.verify()));
    assert.equal(clean.damaged.length, 0);
    assert.equal(clean.modules, records.length);
    assert.equal(clean.versions, records.reduce((sum, r) => sum + r.version, 0));

    const victim = records[4] as ModuleRecord;
    await pool.query("UPDATE wess_blobs SET bytes = overlay(bytes placing '\\x01'::bytea from 1 for 1) WHERE sha256 = $1", [victim.sha256]);
    const report = await store.verify();
    assert.equal(report.damaged.length, 1);
    const [damage] = report.damaged;
    assert.equal(damage?.module_id, victim.id);
    assert.equal(damage?.version, 1);
    assert.equal(damage?.sha256, victim.sha256);
    assert.equal(damage?.problem, 'damaged');
    assert.match(damage?.message ?? '', /no longer matches its hash/);
    assert.equal((await store.inspectBlob(victim.sha256)).ok, false);
    const missing = await store.inspectBlob('0'.repeat(64));
    assert.deepEqual(missing, { ok: false, problem: 'missing', message: `content ${'0'.repeat(64)} is missing from the store` });
    await assert.rejects(collect(store.exportLines({ modulesEstimate: 0 })), (err: { code: string; message: string }) => {
      assert.equal(err.code, 'CONTENT_CORRUPT');
      assert.match(err.message, new RegExp(`module ${victim.id} version 1`));
      return true;
    });
  });

  test('backup is refused at once with BACKUP_UNSUPPORTED (409), pointing at pg_dump and wess export', () => {
    assert.throws(() => store.backup(backupKey('k'.repeat(32))), (err: { code: string; statusCode: number; message: string }) => {
      assert.equal(err.code, 'BACKUP_UNSUPPORTED');
      assert.equal(err.statusCode, 409);
      assert.match(err.message, /pg_dump/);
      assert.match(err.message, /wess export/);
      return true;
    });
  });
});
