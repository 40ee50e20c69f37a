import { inspectBlob } from './blobs.js';
import { decodeVersion } from './codec.js';
import type { Db } from './db.js';
import type { VersionRecord } from '../types.js';
import { allVersionsRange, moduleIdOfVersionKey, versionOfKey } from './keys.js';
import type { Damage, Inspected, VerifyReport } from '../types.js';

/*
 * Verification of stored content: every version's blobs (its binary, and its files image when it
 * has files) are read back and hashed. Used by
 * `GET /admin/verify` and `wess doctor`, with the same check (blobs.ts inspectBlob) as every read.
 */


/**
 * Reads every version's content from one snapshot and reports the damaged ones. Each blob is hashed
 * once, however many versions share it. A version record that cannot be decoded is reported too.
 */
export async function verifyStore(db: Db): Promise<VerifyReport> {
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
      let record: VersionRecord;
      try {
        record = decodeVersion(value);
      } catch (err) {
        damaged.push({ module_id: moduleId, version: versionOfKey(key), sha256: '', problem: 'unreadable', message: `its version record cannot be read: ${(err as Error).message}` });
        continue;
      }
      const blobs: Array<[string, boolean]> = [[record.sha256, false]];
      if (record.files !== undefined) blobs.push([record.files.sha256, true]);
      for (const [sha256, files] of blobs) {
        let inspected = seen.get(sha256);
        if (!inspected) {
          inspected = await inspectBlob(snapshot, sha256);
          // Only the verdict is kept, not the bytes.
          if (inspected.ok) bytes += inspected.bytes.byteLength;
          seen.set(sha256, inspected.ok ? { ok: true, bytes: EMPTY } : inspected);
        }
        if (inspected.ok) continue;
        const damage: Damage = { module_id: moduleId, version: versionOfKey(key), sha256, problem: inspected.problem, message: files ? `files: ${inspected.message}` : inspected.message };
        if (files) damage.files = true;
        damaged.push(damage);
      }
    }
  } finally {
    await snapshot.close();
  }
  return { started_at: started, finished_at: new Date().toISOString(), modules: modules.size, versions, blobs: seen.size, bytes, damaged };
}

const EMPTY = new Uint8Array(0);
