import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SchemaError } from '../schema-error.js';
import { decodeSchemaVersion } from './codec.js';
import { DbOpenError, openDb } from './db.js';
import { SCHEMA_KEY, SCHEMA_VERSION } from './keys.js';
import { ensureSchema } from './migrate.js';

/* `wess migrate [--status]` on a data directory no server holds (the CLI reaches it through ../offline.ts). */

export interface LevelSchemaStatus {
  engine: 'leveldb';
  path: string;
  /** The schema the data directory holds; null for a directory no Wess has opened yet. */
  stored: number | null;
  /** The schema this Wess reads (and migrates an older one to at open). */
  current: number;
}

/** The schema a LevelDB data directory holds, beside this Wess's; writes nothing. */
export async function levelSchemaStatus(path: string): Promise<LevelSchemaStatus> {
  const db = await openExisting(path);
  try {
    const stored = await db.get(SCHEMA_KEY);
    return { engine: 'leveldb', path, stored: stored === undefined ? null : decodeSchemaVersion(stored), current: SCHEMA_VERSION };
  } finally {
    await db.close();
  }
}

/** Migrates a LevelDB data directory to this Wess's schema, as a server would at open; the schema it held before. */
export async function migrateLevel(path: string): Promise<number | null> {
  const db = await openExisting(path);
  try {
    const stored = await db.get(SCHEMA_KEY);
    try {
      await ensureSchema(db);
    } catch (err) {
      throw new SchemaError((err as Error).message, false, { cause: err });
    }
    return stored === undefined ? null : decodeSchemaVersion(stored);
  } finally {
    await db.close();
  }
}

/** Opens a data directory that exists (never creating one), refusing one a server holds. */
async function openExisting(path: string): ReturnType<typeof openDb> {
  if (!existsSync(join(path, 'CURRENT'))) throw new SchemaError(`no Wess database in ${path} (database.path)`);
  try {
    return await openDb(path, { maxOpenFiles: 100 });
  } catch (err) {
    if (err instanceof DbOpenError && err.code === 'DB_LOCKED') {
      const pid = err.pid === undefined ? '' : ` (pid ${err.pid})`;
      throw new SchemaError(`${path} is in use by a running Wess server${pid}: a server migrates its data directory when it opens it; stop it to look at the directory offline`);
    }
    throw new SchemaError((err as Error).message, false, { cause: err });
  }
}
