import { inspectBlob } from './blobs.js';
import { decodeVersion } from './codec.js';
import type { Db, DbReader } from './db.js';
import { allVersionsRange, moduleIdOfVersionKey, versionOfKey } from './keys.js';
import type { VerifyReport } from '../types.js';
import { verifyVersions, type StoredVersion } from '../verify.js';

/** Verifies every version's blobs (../verify.ts) from one snapshot; a version record that cannot be decoded is reported too. */
export async function verifyStore(db: Db): Promise<VerifyReport> {
  const snapshot = db.snapshot();
  try {
    return await verifyVersions(storedVersions(snapshot), (sha256) => inspectBlob(snapshot, sha256));
  } finally {
    await snapshot.close();
  }
}

async function* storedVersions(snapshot: DbReader): AsyncGenerator<StoredVersion> {
  for await (const [key, value] of snapshot.entries(allVersionsRange())) {
    const moduleId = moduleIdOfVersionKey(key);
    const version = versionOfKey(key);
    let stored: StoredVersion;
    try {
      stored = { moduleId, version, record: decodeVersion(value) };
    } catch (err) {
      stored = { moduleId, version, unreadable: (err as Error).message };
    }
    yield stored;
  }
}
