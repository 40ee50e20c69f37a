import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inTransaction } from '../../../src/store/postgres/connect.js';
import { pgOptions, testDatabase, type TestDatabase } from './pg-helper.js';

describe('PostgreSQL connections', pgOptions, () => {
  let db: TestDatabase;
  before(async () => {
    db = await testDatabase();
  });
  after(() => db?.close());

  test('a pool names itself wess in pg_stat_activity and has a statement timeout', async () => {
    const pool = db.pool();
    const res = await pool.query<{ application_name: string; statement_timeout: string }>(
      "SELECT current_setting('application_name') AS application_name, current_setting('statement_timeout') AS statement_timeout",
    );
    assert.deepEqual(res.rows[0], { application_name: 'wess', statement_timeout: '30s' });
  });

  test('inTransaction commits what resolves and rolls back what throws, and the connection goes back to the pool', async () => {
    const pool = db.pool({ max: 1 });
    await pool.query('CREATE TABLE t (x int)');
    await inTransaction(pool, (client) => client.query('INSERT INTO t VALUES (1)'));
    await assert.rejects(
      inTransaction(pool, async (client) => {
        await client.query('INSERT INTO t VALUES (2)');
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    const rows = await pool.query<{ x: number }>('SELECT x FROM t');
    assert.deepEqual(rows.rows, [{ x: 1 }], 'only the committed row; and the one connection was released both times');
  });
});
