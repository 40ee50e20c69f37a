import type { Damage, Inspected, VerifyReport, VersionRecord } from './types.js';

/*
 * Verification of stored content, for every engine: every version's blobs (its binary, and its
 * files image when it has files) are read back and hashed. Used by `GET /admin/verify` and
 * `wess doctor`, with the same check as every read (the engine's inspectBlob).
 */

/** A stored version as an engine reads it: its record, or why the record cannot be read. */
export type StoredVersion =
  | { moduleId: string; version: number; record: VersionRecord }
  | { moduleId: string; version: number; unreadable: string };

/**
 * Reads every version's blobs through `inspect` and reports the damaged ones. Each blob is hashed
 * once, however many versions share it. The engine hands versions from one consistent view.
 */
export async function verifyVersions(versions: AsyncIterable<StoredVersion>, inspect: (sha256: string) => Promise<Inspected>): Promise<VerifyReport> {
  const started = new Date().toISOString();
  const seen = new Map<string, Inspected>();
  const modules = new Set<string>();
  const damaged: Damage[] = [];
  let count = 0;
  let bytes = 0;
  for await (const stored of versions) {
    count++;
    const { moduleId, version } = stored;
    modules.add(moduleId);
    if (!('record' in stored)) {
      damaged.push({ module_id: moduleId, version, sha256: '', problem: 'unreadable', message: `its version record cannot be read: ${stored.unreadable}` });
      continue;
    }
    const { record } = stored;
    const blobs: Array<[string, boolean]> = [[record.sha256, false]];
    if (record.files !== undefined) blobs.push([record.files.sha256, true]);
    for (const [sha256, files] of blobs) {
      let inspected = seen.get(sha256);
      if (!inspected) {
        inspected = await inspect(sha256);
        // Only the verdict is kept, not the bytes.
        if (inspected.ok) bytes += inspected.bytes.byteLength;
        seen.set(sha256, inspected.ok ? { ok: true, bytes: EMPTY } : inspected);
      }
      if (inspected.ok) continue;
      const damage: Damage = { module_id: moduleId, version, sha256, problem: inspected.problem, message: files ? `files: ${inspected.message}` : inspected.message };
      if (files) damage.files = true;
      damaged.push(damage);
    }
  }
  return { started_at: started, finished_at: new Date().toISOString(), modules: modules.size, versions: count, blobs: seen.size, bytes, damaged };
}

const EMPTY = new Uint8Array(0);
