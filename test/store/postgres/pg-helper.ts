/**
 * A PostgreSQL database of its own for each test file, and the one rule for tests that need the
 * server: run on it, or skip loudly outside CI, or fail under CI (as test/shared-data.ts does for
 * data sets). The database is created through the maintenance database on WESS_TEST_PG_URL and
 * dropped, with whatever connections are left, when the file's tests end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectPool } from '../../../src/store/postgres/connect.js';

/** The server's maintenance database: where test databases are created from. */
export const ADMIN_URL = process.env.WESS_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** True when the server answers a query within two seconds. */
async function reachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const up = await reachable();
const required = Boolean(process.env.CI);
const missing = `POSTGRESQL NOT REACHABLE at ${ADMIN_URL}: start it or set WESS_TEST_PG_URL. `
  + (required ? 'Under CI (CI set) its tests FAIL.' : 'Tests of the PostgreSQL store are SKIPPED.');
if (!up) console.warn(`\n${'!'.repeat(missing.length)}\n${missing}\n${'!'.repeat(missing.length)}\n`);

/** node:test options for a suite on PostgreSQL: a reported skip (never a pass) when it is down and not required. */
export const pgOptions: { skip: string | false } = { skip: !up && !required ? missing : false };

export interface TestDatabase {
  /** The URL of the fresh database. */
  url: string;
  /** A pool on it, ended by close(). */
  pool(options?: { max?: number }): pg.Pool;
  /** Ends the pools and drops the database WITH (FORCE): call it in `after`. */
  close(): Promise<void>;
}

/** Creates `wess_test_<random>`: a run never meets another's data. Fails the running test when the server is down. */
export async function testDatabase(): Promise<TestDatabase> {
  if (!up) assert.fail(missing);
  const name = `wess_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pools: pg.Pool[] = [];
  return {
    url: url.toString(),
    pool(options = {}) {
      const pool = connectPool({ url: url.toString(), ...options });
      pools.push(pool);
      return pool;
    },
    async close() {
      await Promise.all(pools.map((pool) => pool.end()));
      const dropper = new pg.Client({ connectionString: ADMIN_URL });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await dropper.end();
    },
  };
}
