import { hasErrorCode } from '../errors.js';
import type { Db, DbReader } from './db.js';
import { readBlob } from './blobs.js';
import { decodeVersion, sha256Hex } from './codec.js';
import { allVersionsRange, moduleIdOfVersionKey, versionOfKey } from './keys.js';

/*
 * Verification of stored content: every version's blob is read back and hashed. Used by
 * `GET /admin/verify` and `wess doctor`; transfer.ts checks exported content the same way.
 */

/** What can be wrong with a version's content: no bytes, other bytes, or bytes the store cannot read. */
export type BlobProblem = 'missing' | 'damaged' | 'unreadable';

export interface Damage {
  module_id: string;
  version: number;
  sha256: string;
  problem: BlobProblem;
  message: string;
}

export interface VerifyReport {
  started_at: string;
  finished_at: string;
  /** Modules and versions looked at, and distinct blobs read. */
  modules: number;
  versions: number;
  blobs: number;
  /** Bytes read and hashed. */
  bytes: number;
  damaged: Damage[];
}

export type Inspected = { ok: true; bytes: Uint8Array } | { ok: false; problem: BlobProblem; message: string };

/** The content stored under `sha256`, read and hashed: its bytes, or what is wrong with them. */
export async function inspectBlob(db: DbReader, sha256: string): Promise<Inspected> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readBlob(db, sha256);
  } catch (err) {
    // Damage readBlob found (a bad pointer, missing bytes, a block LevelDB cannot read); anything else
    // (a closed database, say) is no verdict on the content and goes up as it is.
    if (!hasErrorCode(err) || err.code !== 'CONTENT_CORRUPT') throw err;
    return { ok: false, problem: 'unreadable', message: err.message };
  }
  if (!bytes) return { ok: false, problem: 'missing', message: `content ${sha256} is missing from the store` };
  const actual = sha256Hex(bytes);
  if (actual !== sha256) return { ok: false, problem: 'damaged', message: `content ${sha256} no longer matches its hash (it hashes to ${actual})` };
  return { ok: true, bytes };
}

/**
 * Reads every version's content from one snapshot and reports the damaged ones. Each blob is hashed
 * once, however many versions share it. A version record that cannot be decoded is reported too.
 */
export async function verifyStore(db: Db, onProgress?: (versions: number) => void): Promise<VerifyReport> {
  const started = new Date().toISOString();
  const snapshot = db.snapshot();
  const seen = new Map<string, Inspected>();
  const modules = new Set<string>();
  const damaged: Damage[] = [];
  let versions = 0;
  let bytes = 0;
  try {
    for await (const [key, value] of snapshot.entries(allVersionsRange())) {
      versions++;
      const moduleId = moduleIdOfVersionKey(key);
      modules.add(moduleId);
      let sha256: string;
      try {
        sha256 = decodeVersion(value).sha256;
      } catch (err) {
        damaged.push({ module_id: moduleId, version: versionOfKey(key), sha256: '', problem: 'unreadable', message: `its version record cannot be read: ${(err as Error).message}` });
        continue;
      }
      let inspected = seen.get(sha256);
      if (!inspected) {
        inspected = await inspectBlob(snapshot, sha256);
        // Only the verdict is kept, not the bytes.
        if (inspected.ok) bytes += inspected.bytes.byteLength;
        seen.set(sha256, inspected.ok ? { ok: true, bytes: EMPTY } : inspected);
      }
      if (!inspected.ok) damaged.push({ module_id: moduleId, version: versionOfKey(key), sha256, problem: inspected.problem, message: inspected.message });
      onProgress?.(versions);
    }
  } finally {
    await snapshot.close();
  }
  return { started_at: started, finished_at: new Date().toISOString(), modules: modules.size, versions, blobs: seen.size, bytes, damaged };
}

const EMPTY = new Uint8Array(0);
