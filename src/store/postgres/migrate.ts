import type pg from 'pg';
import { SchemaError } from '../schema-error.js';
import { connectPool } from './connect.js';
import { redactUrl } from '../url.js';
import { MIGRATIONS, type Migration } from './migrations/index.js';

/**
 * The advisory lock every Wess node takes to migrate: ASCII "wessmigr" as a signed 64-bit key. Nodes
 * starting together queue on it, so each migration runs once and the others find it applied.
 */
export const MIGRATION_LOCK_KEY = '8603409602755258226';

const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS wess_schema_migrations (
  version    int PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

export interface AppliedMigration {
  version: number;
  name: string;
  applied_at: string;
}

export interface MigrationStatus {
  applied: AppliedMigration[];
  /** Versions this code knows and the database has not applied yet, oldest first. */
  pending: number[];
  /** The newest version this code knows. */
  latest: number;
}

/**
 * Brings the database to the newest schema: takes the migration lock (a session advisory lock, held
 * across the migrations' own transactions and released by the server if this connection dies), then
 * applies each pending migration in its own transaction with its row in wess_schema_migrations.
 * Refuses a database migrated past what this code knows: an older node must not write a newer schema.
 * Returns the versions it applied (none when another node had applied them).
 */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const client = await pool.connect();
  // A connection whose unlock or reset failed is in an unknown state: destroyed, not pooled again.
  let broken: Error | undefined;
  const keep = (err: Error): void => {
    broken ??= err;
  };
  try {
    // No statement timeout while migrating: a node waiting for another's long migration, or running
    // one, must not give up half way through its start. The RESET below gives back the pool's.
    await client.query('SET statement_timeout = 0');
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await applyPending(client, migrations);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(keep);
    }
  } finally {
    await client.query('RESET statement_timeout').catch(keep);
    client.release(broken);
  }
}

/** Run under the migration lock. */
async function applyPending(client: pg.PoolClient, migrations: readonly Migration[]): Promise<number[]> {
  // Under the lock: two nodes creating the table at once would collide in the catalogue.
  await client.query(CREATE_MIGRATIONS_TABLE);
  const done = new Set((await appliedMigrations(client)).map((m) => m.version));
  checkKnown(done, migrations);
  const applied: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(migration.version)) continue;
    await applyOne(client, migration);
    applied.push(migration.version);
  }
  return applied;
}

/** What `wess migrate --status` shows: the versions applied (with when) and those still pending. */
export async function migrationStatus(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationStatus> {
  const exists = await pool.query<{ table: string | null }>("SELECT to_regclass('wess_schema_migrations')::text AS table");
  const applied = exists.rows[0]?.table ? await appliedMigrations(pool) : [];
  const done = new Set(applied.map((m) => m.version));
  return {
    applied,
    pending: migrations.map((m) => m.version).filter((v) => !done.has(v)),
    latest: migrations.reduce((max, m) => Math.max(max, m.version), 0),
  };
}

async function appliedMigrations(db: pg.Pool | pg.PoolClient): Promise<AppliedMigration[]> {
  const res = await db.query<{ version: number; name: string; applied_at: Date }>('SELECT version, name, applied_at FROM wess_schema_migrations ORDER BY version');
  return res.rows.map((row) => ({ version: row.version, name: row.name, applied_at: row.applied_at.toISOString() }));
}

function checkKnown(done: ReadonlySet<number>, migrations: readonly Migration[]): void {
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...done].filter((v) => !known.has(v)).sort((a, b) => a - b);
  if (unknown.length > 0) {
    throw new Error(`the database has schema migrations ${unknown.join(', ')} that this version of Wess does not know; run a newer Wess`);
  }
}

/** One migration and its row, in one transaction: a failure leaves the database at the version before it. */
async function applyOne(client: pg.PoolClient, migration: Migration): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(migration.sql);
    await client.query('INSERT INTO wess_schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw new Error(`schema migration ${migration.version} (${migration.name}) failed: ${(err as Error).message}`, { cause: err });
  }
}

/* `wess migrate [--status]` from the CLI (through ../offline.ts): one short-lived connection. */

/** One migration of the PostgreSQL store, as `--status` lists it. */
export interface MigrationRow {
  version: number;
  name: string;
  /** When it was applied; null while pending. */
  applied_at: string | null;
  /** False for a migration the database has and this Wess does not know (a newer Wess applied it). */
  known: boolean;
}

export interface PostgresSchemaStatus {
  engine: 'postgres';
  migrations: MigrationRow[];
  pending: number[];
  latest: number;
}

/** The applied and pending migrations of the database at `url`; reads only. */
export async function postgresSchemaStatus(url: string): Promise<PostgresSchemaStatus> {
  return withPool(url, async (pool) => {
    const status = await migrationStatus(pool);
    const names = new Map(MIGRATIONS.map((m) => [m.version, m.name]));
    const rows: MigrationRow[] = status.applied.map((m) => ({ ...m, known: names.has(m.version) }));
    for (const version of status.pending) rows.push({ version, name: names.get(version) ?? '', applied_at: null, known: true });
    rows.sort((a, b) => a.version - b.version);
    return { engine: 'postgres', migrations: rows, pending: status.pending, latest: status.latest };
  });
}

/** Applies the pending migrations under the migration lock (as a starting node does); the versions it applied. */
export async function migratePostgres(url: string): Promise<number[]> {
  return withPool(url, async (pool) => {
    try {
      return await migrate(pool);
    } catch (err) {
      throw new SchemaError((err as Error).message, false, { cause: err });
    }
  });
}

async function withPool<T>(url: string, work: (pool: ReturnType<typeof connectPool>) => Promise<T>): Promise<T> {
  const pool = connectPool({ url, max: 1 });
  try {
    await pool.query('SELECT 1').catch((err: Error) => {
      throw new SchemaError(`cannot reach PostgreSQL at ${redactUrl(url)}: ${err.message}`, true, { cause: err });
    });
    return await work(pool);
  } finally {
    await pool.end();
  }
}

