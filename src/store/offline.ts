/*
 * The tools that work on a data directory no server holds, and on backup archives: `wess backup
 * --data`, `wess restore` and `wess doctor --data`. They read and write LevelDB directly (a backup is
 * a copy of its keys), so they belong to the LevelDB store; this is the door the CLI uses to them.
 */
export { ArchiveError, readArchive, type ArchiveSummary } from './level/backup.js';
export { BackupFileError, backupDataDir, restoreArchive, verifyDataDir, withAtomicFile } from './level/backup-files.js';
