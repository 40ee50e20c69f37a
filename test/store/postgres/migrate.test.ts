import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrate, migrationStatus } from '../../../src/store/postgres/migrate.js';
import { MIGRATIONS, type Migration } from '../../../src/store/postgres/migrations/index.js';
import { pgOptions, testDatabase, type TestDatabase } from './pg-helper.js';

const LATEST = MIGRATIONS.map((m) => m.version);

/** The wess_ tables the schema made, by name. */
async function tables(db: TestDatabase): Promise<string[]> {
  const res = await db.pool().query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  return res.rows.map((row) => row.tablename);
}

describe('PostgreSQL schema migrations', pgOptions, () => {
  const dbs: TestDatabase[] = [];
  const fresh = async (): Promise<TestDatabase> => {
    const db = await testDatabase();
    dbs.push(db);
    return db;
  };
  after(async () => {
    await Promise.all(dbs.map((db) => db.close()));
  });

  test('an empty database: status lists every migration pending; migrate applies them; a second start applies none', async () => {
    const db = await fresh();
    const pool = db.pool();
    assert.deepEqual(await migrationStatus(pool), { applied: [], pending: LATEST, latest: Math.max(...LATEST) });
    assert.deepEqual(await migrate(pool), LATEST);
    assert.deepEqual(await tables(db), [
      'wess_audit', 'wess_blobs', 'wess_counters', 'wess_events', 'wess_invocation_seq', 'wess_invocations', 'wess_jobs', 'wess_key_usage', 'wess_keys', 'wess_modules', 'wess_routes', 'wess_schedules', 'wess_schema_migrations', 'wess_settings', 'wess_tenant_settings', 'wess_tenants', 'wess_versions', 'wess_webhook_secrets',
    ]);
    assert.deepEqual(await migrate(pool), [], 'idempotent: nothing to apply on the second start');
    const timeouts = await Promise.all([pool, db.pool({ max: 1 })].map(async (p) => (await p.query('SHOW statement_timeout')).rows[0]));
    assert.deepEqual(timeouts, [{ statement_timeout: '30s' }, { statement_timeout: '30s' }], 'the connection that migrated went back with the pool\'s timeout');
    const status = await migrationStatus(pool);
    assert.deepEqual(status.pending, []);
    assert.deepEqual(status.applied.map((m) => [m.version, m.name]), MIGRATIONS.map((m) => [m.version, m.name]));
    assert.ok(status.applied.every((m) => !Number.isNaN(Date.parse(m.applied_at))));
  });

  test('nodes starting together: migrators on separate pools all succeed, and each migration is applied once', async () => {
    const db = await fresh();
    const results = await Promise.all([db.pool(), db.pool(), db.pool()].map((pool) => migrate(pool)));
    assert.deepEqual(results.flat().sort(), LATEST, `one migrator applied them, the others found them applied: ${JSON.stringify(results)}`);
    const rows = await db.pool().query<{ count: string }>('SELECT count(*) FROM wess_schema_migrations');
    assert.equal(Number(rows.rows[0]?.count), MIGRATIONS.length);
  });

  test('a later migration: status shows it pending, migrate applies only it, in its own transaction', async () => {
    const db = await fresh();
    const pool = db.pool();
    await migrate(pool);
    const next: Migration = { version: Math.max(...LATEST) + 1, name: 'test-extra', sql: 'CREATE TABLE wess_test_extra (x int)' };
    const withNext = [...MIGRATIONS, next];
    assert.deepEqual((await migrationStatus(pool, withNext)).pending, [next.version]);
    assert.deepEqual(await migrate(pool, withNext), [next.version]);
    assert.deepEqual((await migrationStatus(pool, withNext)).pending, []);

    const broken: Migration = { version: next.version + 1, name: 'broken', sql: 'CREATE TABLE wess_test_half (x int); SELECT no_such_function()' };
    await assert.rejects(migrate(pool, [...withNext, broken]), /schema migration \d+ \(broken\) failed/);
    assert.ok(!(await tables(db)).includes('wess_test_half'), 'a failed migration leaves nothing behind');
    assert.deepEqual((await migrationStatus(pool, [...withNext, broken])).pending, [broken.version]);
  });

  test('a database migrated further than this code knows is refused', async () => {
    const db = await fresh();
    const pool = db.pool();
    await migrate(pool);
    await pool.query("INSERT INTO wess_schema_migrations (version, name) VALUES (9999, 'from-the-future')");
    await assert.rejects(migrate(pool), /migrations 9999 that this version of Wess does not know/);
  });
});

describe('PostgreSQL schema constraints', pgOptions, () => {
  let db: TestDatabase;
  before(async () => {
    db = await testDatabase();
    await migrate(db.pool());
  });
  after(() => db?.close());

  test('a version cannot name a missing blob, a used blob cannot be deleted, and the current version cannot be pruned', async () => {
    const pool = db.pool();
    const sha = 'a'.repeat(64);
    const module = { id: 'm1', tenant: 't', name: 'n', version: 1, sha256: sha, size: 4 };
    const version = { id: 'm1', version: 1, name: 'n', sha256: sha, size: 4 };
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO wess_modules (id, record) VALUES ($1, $2)', ['m1', module]);
      await assert.rejects(client.query('INSERT INTO wess_versions (module_id, version, record) VALUES ($1, $2, $3)', ['m1', 1, version]), /foreign key/);
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await client.query('INSERT INTO wess_blobs (sha256, bytes, size) VALUES ($1, $2, 4)', [sha, Buffer.from('\0asm')]);
      await client.query('INSERT INTO wess_modules (id, record) VALUES ($1, $2)', ['m1', module]);
      await client.query('INSERT INTO wess_versions (module_id, version, record) VALUES ($1, $2, $3)', ['m1', 1, version]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const row = (await pool.query('SELECT m.tenant, m.name, m.version, v.sha256, v.held FROM wess_modules m JOIN wess_versions v ON v.module_id = m.id')).rows[0];
    assert.deepEqual(row, { tenant: 't', name: 'n', version: '1', sha256: sha, held: '4' }, 'the columns are generated from the records');
    await assert.rejects(pool.query('DELETE FROM wess_blobs'), /foreign key/);
    await assert.rejects(pool.query('DELETE FROM wess_versions'), /foreign key/);
    await pool.query('DELETE FROM wess_modules');
    assert.equal((await pool.query('SELECT * FROM wess_versions')).rowCount, 0, 'a deleted module takes its versions');
    await pool.query('DELETE FROM wess_blobs');
  });
});
