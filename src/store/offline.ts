import type { PostgresSchemaStatus } from './postgres/migrate.js';

/*
 * The tools that work on a store no server holds, and on backup archives: `wess backup --data`,
 * `wess restore`, `wess doctor --data` and `wess migrate`. They read and write an engine directly (a
 * backup is a copy of LevelDB's keys; a migration is the engine's own), so they belong to the
 * engines' stores; this is the door the CLI uses to them.
 */
export { ArchiveError, readArchive, type ArchiveSummary } from './level/backup.js';
export { BackupFileError, backupDataDir, restoreArchive, verifyDataDir, withAtomicFile } from './level/backup-files.js';
export { SchemaError } from './schema-error.js';
export { levelSchemaStatus, migrateLevel, type LevelSchemaStatus } from './level/schema-status.js';
export type { MigrationRow, PostgresSchemaStatus } from './postgres/migrate.js';

/* PostgreSQL's side is loaded (and pg with it, tens of milliseconds) only when `wess migrate` runs it. */

/** The applied and pending migrations of the database at `url`; reads only. */
export async function postgresSchemaStatus(url: string): Promise<PostgresSchemaStatus> {
  return (await import('./postgres/migrate.js')).postgresSchemaStatus(url);
}

/** Applies the pending migrations under the migration lock; the versions it applied. */
export async function migratePostgres(url: string): Promise<number[]> {
  return (await import('./postgres/migrate.js')).migratePostgres(url);
}
