import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ROOT, startApp } from '../helper.js';
import { pgOptions, testDatabase, type TestDatabase } from '../store/postgres/pg-helper.js';
import { MIGRATIONS } from '../../src/store/postgres/migrations/index.js';
import { closedPort, lines, wess } from './helper.js';

describe('wess migrate against a fresh PostgreSQL database', pgOptions, () => {
  let db: TestDatabase;
  before(async () => {
    db = await testDatabase();
  });
  after(() => db.close());

  test('--status lists the pending migrations, wess migrate applies them under the lock, --status then shows them applied', async () => {
    const fresh = await wess(['migrate', '--status', '--database-url', db.url]);
    assert.equal(fresh.code, 0, fresh.stderr);
    const shown = lines(fresh.stdout);
    assert.match(shown[0] ?? '', /^PostgreSQL postgres:\/\/[^@\s]*@127\.0\.0\.1:5432\/wess_test_/);
    assert.match(shown[1] ?? '', /^VERSION\s+NAME\s+STATUS\s+APPLIED AT$/);
    for (const [i, m] of MIGRATIONS.entries()) assert.match(shown[2 + i] ?? '', new RegExp(`^\\s*${m.version}\\s+${m.name}\\s+pending\\s+-$`));
    assert.equal(shown[shown.length - 1], `schema: ${MIGRATIONS.length} pending; run wess migrate, or start a server (it migrates at start)`);
    // --status changes nothing: the database has no table at all yet.
    const pool = db.pool();
    assert.equal((await pool.query("SELECT to_regclass('wess_schema_migrations') AS t")).rows[0].t, null);

    const applied = await wess(['migrate', '--database-url', db.url]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, new RegExp(`^migrate: applied migrations? ${MIGRATIONS.map((m) => m.version).join(', ')} to postgres://.*\\n$`));

    const after = await wess(['--json', 'migrate', '--status', '--database-url', db.url]);
    assert.equal(after.code, 0, after.stderr);
    const status = JSON.parse(after.stdout) as { engine: string; migrations: Array<{ version: number; applied_at: string | null }>; pending: number[]; latest: number };
    assert.equal(status.engine, 'postgres');
    assert.deepEqual(status.pending, []);
    assert.equal(status.latest, Math.max(...MIGRATIONS.map((m) => m.version)));
    assert.deepEqual(status.migrations.map((m) => m.version), MIGRATIONS.map((m) => m.version));
    for (const m of status.migrations) assert.match(m.applied_at ?? '', /^\d{4}-\d\d-\d\dT/);
    const human = await wess(['migrate', '--status', '--database-url', db.url]);
    assert.match(human.stdout, /^\s*1\s+schema\s+applied\s+\d{4}-/m);
    assert.match(human.stdout, new RegExp(`schema: up to date \\(${MIGRATIONS.length} applied\\)\\n$`));

    const again = await wess(['migrate', '--database-url', db.url]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /is up to date; nothing applied\n$/);
  });

  test('with no flag, the store is the one the config names: WESS_DATABASE_URL', async () => {
    const res = await wess(['--json', 'migrate', '--status'], { env: { WESS_DATABASE_URL: db.url } });
    assert.equal(res.code, 0, res.stderr);
    assert.equal((JSON.parse(res.stdout) as { engine: string }).engine, 'postgres');
  });

  test('a database nobody listens for is exit 3, saying where it looked and never the password', async () => {
    const url = `postgres://wess:hunter2@127.0.0.1:${await closedPort()}/nothing`;
    const res = await wess(['migrate', '--status', '--database-url', url]);
    assert.equal(res.code, 3);
    assert.match(res.stderr, /^wess: cannot reach PostgreSQL at postgres:\/\/wess:\*\*\*@127\.0\.0\.1:\d+\/nothing: /);
    assert.doesNotMatch(res.stderr, /hunter2/);
  });
});

describe('wess migrate on a LevelDB data directory', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'wess-migrate-'));
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  test('--status shows the stored schema beside this wess\'s; a directory in use or missing is refused', async () => {
    const dir = join(scratch, 'data');
    const app = await startApp({}, dir);
    try {
      const busy = await wess(['migrate', '--status', '--data', dir]);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /in use by a running Wess server/);
    } finally {
      await app.close();
    }
    const res = await wess(['--json', 'migrate', '--status', '--data', dir]);
    assert.equal(res.code, 0, res.stderr);
    const status = JSON.parse(res.stdout) as { engine: string; stored: number; current: number };
    assert.equal(status.engine, 'leveldb');
    assert.equal(status.stored, status.current);
    const human = await wess(['migrate', '--status', '--data', dir]);
    assert.match(human.stdout, /^stored schema:\s+\d+$/m);
    assert.match(human.stdout, /^state:\s+up to date$/m);
    const migrated = await wess(['migrate', '--data', dir]);
    assert.match(migrated.stdout, /nothing to do\n$/);

    const missing = await wess(['migrate', '--status', '--data', join(scratch, 'none')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no Wess database in .*none/);
  });

  test('an older directory (the schema-2 fixture) shows as behind, and wess migrate brings it up to date', async () => {
    const dir = join(scratch, 'schema-2');
    await cp(fileURLToPath(new URL('test/fixtures/db/schema-2/', ROOT)), dir, { recursive: true });
    const before = JSON.parse((await wess(['--json', 'migrate', '--status', '--data', dir])).stdout) as { stored: number; current: number };
    assert.equal(before.stored, 2);
    const human = await wess(['migrate', '--status', '--data', dir]);
    assert.match(human.stdout, /^state:\s+migrated when a server next opens it/m);
    const migrated = await wess(['migrate', '--data', dir]);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.equal(migrated.stdout, `migrate: ${dir} migrated from schema 2 to ${before.current}\n`);
    const after = JSON.parse((await wess(['--json', 'migrate', '--status', '--data', dir])).stdout) as { stored: number };
    assert.equal(after.stored, before.current);
  });
});
