import pg from 'pg';
import { storeError } from './errors.js';

/** What a pool of connections to the PostgreSQL store may be told; everything else has a default. */
export interface ConnectOptions {
  /** `postgres://user@host:port/database` (libpq's URL form, as pg parses it). */
  url: string;
  /** Connections this process may hold; the writer holds one per batch, readers share the rest. */
  max?: number;
  /** A statement running longer than this is cancelled by the server, so a stuck query cannot hold a connection forever. */
  statementTimeoutMs?: number;
  /** Told of an idle connection's error (the server restarted or went away), for the log. */
  onIdleError?: (err: Error) => void;
}

/**
 * Ten connections: one for the writer's batch, one held for LISTEN later, the rest for cache misses.
 * Several nodes (and node:cluster processes) each have their own pool, and PostgreSQL's default
 * max_connections is 100, so a pool stays small.
 */
const DEFAULT_POOL_SIZE = 10;
/** Long enough for a batch of large uploads, short enough that a stuck statement is noticed. */
const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

/**
 * A pool on `url`, named `wess` in pg_stat_activity. Connections are opened on first use. An idle
 * connection's error (the server restarted) is only reported: pg emits it on the pool, where an
 * unhandled 'error' event would end the process, and the pool has dropped that connection already,
 * so the next query gets a fresh one.
 */
export function connectPool(options: ConnectOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? DEFAULT_POOL_SIZE,
    application_name: 'wess',
    statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (err) => options.onIdleError?.(err));
  // A connection the server ends while it is checked out (a restart between two statements of a
  // transaction) emits 'error' on the client, where no pool listener is: unhandled, it would end the
  // process. The statement in flight fails on its own; this only keeps the process up.
  pool.on('connect', (client) => client.on('error', (err) => options.onIdleError?.(err)));
  // Every read through the pool answers UNAVAILABLE (503, Retry-After) when the server is unreachable,
  // whichever store interface made it; other errors go up as they are.
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as { query: unknown }).query = (...args: unknown[]) =>
    query(...args).catch((err: unknown) => {
      throw storeError(err);
    });
  return pool;
}

/** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection whose ROLLBACK failed is in an unknown state: destroyed, not returned to the pool.
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
