import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { backupStream, readArchive, type ArchiveSummary, type ReadHandlers, type ReadOptions } from './backup.js';
import { decodeSchemaVersion } from './codec.js';
import { openDb, type Db } from './db.js';
import { SCHEMA_KEY, SCHEMA_VERSION } from './keys.js';
import { ContentAdmission, type AdmitStored } from './restore-check.js';
import { verifyStore } from './verify.js';
import type { BackupKey } from '../backup-key.js';
import type { VerifyReport } from '../types.js';

/** Backups and restores as files: always written beside their target and renamed into place once complete. */

/** A refusal about files or directories, meant to be shown as it is (the CLI prints it as one line). */
export class BackupFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupFileError';
  }
}

/**
 * Runs `write` against a temp file beside `path`, then fsyncs it, renames it to `path` and fsyncs
 * the directory: `path` appears only complete and durable. On any failure the temp file is removed.
 */
export async function withAtomicFile<T>(path: string, fill: (write: (chunk: Uint8Array) => Promise<void>) => Promise<T>): Promise<T> {
  const target = resolve(path);
  const temp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let handle: FileHandle | undefined = await open(temp, 'wx');
  try {
    const file = handle;
    const result = await fill(async (chunk) => {
      await file.write(chunk);
    });
    await file.sync();
    await file.close();
    handle = undefined;
    await rename(temp, target);
    await syncDir(dirname(target));
    return result;
  } catch (err) {
    await handle?.close().catch(() => {});
    await rm(temp, { force: true });
    throw err;
  }
}

/** Makes a rename durable: the directory entry is on disk once the directory is fsynced. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Backs up the database in `dataDir` to `out`, signed with `key`, without a server. LevelDB admits one
 * process per directory, so a directory a running server holds is refused with a pointer to the online backup.
 */
export async function backupDataDir(dataDir: string, out: string, key: BackupKey, handlers: Pick<ReadHandlers, 'onHeader' | 'onProgress'> = {}): Promise<{ entries: number; bytes: number }> {
  if (!existsSync(join(dataDir, 'CURRENT'))) throw new BackupFileError(`no Wess database in ${dataDir}`);
  const db = await openExisting(dataDir);
  let totals = { entries: 0, bytes: 0 };
  try {
    await withAtomicFile(out, async (write) => {
      const onProgress = (entries: number, bytes: number) => {
        totals = { entries, bytes };
        handlers.onProgress?.(entries, bytes);
      };
      for await (const chunk of backupStream(db, key, { onHeader: handlers.onHeader, onProgress })) {
        await write(chunk as Buffer);
      }
    });
  } finally {
    await db.close();
  }
  return totals;
}

/** Reads back and hashes every stored version of an offline data directory (`wess doctor --data`). */
export async function verifyDataDir(dataDir: string): Promise<VerifyReport> {
  if (!existsSync(join(dataDir, 'CURRENT'))) throw new BackupFileError(`no Wess database in ${dataDir}`);
  const db = await openExisting(dataDir, 'check it through that server instead: wess doctor --url URL --key ADMIN_KEY');
  try {
    const stored = await db.get(SCHEMA_KEY);
    const schema = stored === undefined ? undefined : decodeSchemaVersion(stored);
    if (schema !== SCHEMA_VERSION) {
      throw new BackupFileError(`${dataDir} holds schema ${schema ?? 'none'}, this wess reads schema ${SCHEMA_VERSION}: start the server on it once (it migrates at open), then run doctor`);
    }
    return await verifyStore(db);
  } finally {
    await db.close();
  }
}

async function openExisting(dataDir: string, instead = 'back it up through that server instead: wess backup --url URL --key ADMIN_KEY --out FILE'): Promise<Db> {
  try {
    return await openDb(dataDir, { maxOpenFiles: 100 });
  } catch (err) {
    if (/lock/i.test((err as Error).message)) {
      throw new BackupFileError(`${dataDir} is in use by a running Wess server (its LevelDB lock is held); ${instead}`);
    }
    throw err;
  }
}

/** How a restore checks an archive: its signature (ReadOptions) and the admission of every module in it. */
export interface RestoreOptions extends ReadOptions {
  /** Upload admission under the limits of the server that will open the data: throws a coded error to refuse. */
  admit: AdmitStored;
}

/**
 * Restores the archive `file` into `dataDir`, which must be missing or empty, in two passes over the
 * file. The first writes nothing: it verifies the count, the checksum and the signature (unless
 * skipped) and runs admission on every module content; any refusal ends the restore there. The
 * second writes the entries to a temp directory beside `dataDir` in durable batches and, once the
 * archive reads exactly as it did the first time (same sha256), renames it to `dataDir`. A bad,
 * forged or truncated archive leaves `dataDir` as it was. An older-schema archive is restored as it
 * is; the server migrates it when it next starts.
 */
export async function restoreArchive(file: string, dataDir: string, options: RestoreOptions, handlers: Pick<ReadHandlers, 'onHeader' | 'onProgress'> = {}): Promise<ArchiveSummary> {
  const target = resolve(dataDir);
  await requireEmpty(target);
  if (!existsSync(file)) throw new BackupFileError(`no such file: ${file}`);
  const checked = await checkArchive(file, options, handlers);
  await mkdir(dirname(target), { recursive: true });
  const temp = join(dirname(target), `.${basename(target)}.restore-${process.pid}-${randomBytes(4).toString('hex')}`);
  const db = await openDb(temp, { maxOpenFiles: 100 });
  let open = true;
  try {
    const summary = await readArchive(createReadStream(file), { ...handlers, onBatch: (ops) => db.batch(ops, { sync: true }) }, options);
    // The file may have been replaced since the first pass: only the archive that was checked is restored.
    if (summary.sha256 !== checked.sha256) throw new BackupFileError(`${file} changed while it was being restored; nothing was restored`);
    await db.close();
    open = false;
    // Checked again: something may have filled the directory while the archive was read.
    await requireEmpty(target);
    if (existsSync(target)) await rm(target, { recursive: true });
    await rename(temp, target);
    await syncDir(dirname(target));
    return summary;
  } catch (err) {
    if (open) await db.close().catch(() => {});
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
}

/** The first pass of a restore: the whole archive verified and every module content admitted, nothing written. */
async function checkArchive(file: string, options: RestoreOptions, handlers: Pick<ReadHandlers, 'onHeader' | 'onProgress'>): Promise<ArchiveSummary> {
  const admission = new ContentAdmission(options.admit);
  const summary = await readArchive(createReadStream(file), { ...handlers, onBatch: (ops) => admission.take(ops) }, options);
  if (admission.refusedCount > 0) {
    const more = admission.refusedCount > admission.refusals().length ? `; and ${admission.refusedCount - admission.refusals().length} more` : '';
    throw new BackupFileError(
      `the archive holds ${admission.refusedCount} module content(s) this Wess does not admit (its limits, or a forged archive); nothing was restored: ${admission.refusals().join('; ')}${more}`,
    );
  }
  return summary;
}

async function requireEmpty(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    if ((err as { code?: string }).code === 'ENOTDIR') throw new BackupFileError(`${dir} is a file, not a data directory`);
    throw err;
  }
  if (names.length > 0) {
    throw new BackupFileError(`${dir} is not empty (${names.length} entries); restore only into a missing or empty directory, so nothing is overwritten`);
  }
}
