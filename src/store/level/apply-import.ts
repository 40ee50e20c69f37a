import type { Applied } from '../group-writer.js';
import { checkImport, createdEvent } from '../changes.js';
import { stageBlob, stageFilesBlob } from './blobs.js';
import { decodeRecord, encodeRecord, encodeVersion } from './codec.js';
import { stageRefs } from './history.js';
import { moduleKey, tenantModuleKey, versionKey } from './keys.js';
import type { Overlay } from './overlay.js';
import { chargeStorage, checkModuleCount } from './quota.js';
import { sumHeld } from '../quota.js';
import { importedModuleRecord, importedVersionRecord } from '../records.js';
import type { ImportedVersion, VersionRecord, WriteMessage } from '../types.js';

type ImportMessage = Extract<WriteMessage, { kind: 'import-module' }>;

const EMPTY = new Uint8Array(0);

/**
 * Stages a whole imported module: its newest `maxVersions` versions (the older ones are left out as
 * pruning would have dropped them here) with their blobs and references, the current record, the
 * tenant index and the tenant's byte count, all in the caller's batch, after the tenant's quota.
 * An id that already exists is skipped untouched, so re-running an import changes nothing.
 */
export async function applyImport(msg: ImportMessage, overlay: Overlay, maxVersions: number): Promise<Applied> {
  const existing = await overlay.get(moduleKey(msg.id));
  if (existing) return { result: { imported: false, record: decodeRecord(existing), pruned: 0 }, moduleDelta: 0, events: [] };
  checkImport(msg);
  const kept = msg.versions.slice(-maxVersions);
  await checkModuleCount(msg.tenant, overlay, msg.quota);
  const records = kept.map((version) => importedVersionRecord(msg.id, version));
  await chargeStorage(msg.tenant, sumHeld(records), overlay, msg.quota);
  for (const [i, version] of kept.entries()) {
    // stageBlob refuses content that does not match its hash, and stores a shared blob once.
    await stageBlob(version.content, overlay);
    await stageFilesBlob(version.content.files, overlay);
    const record = records[i] as VersionRecord;
    overlay.put(versionKey(msg.id, version.version), encodeVersion(record));
    stageRefs(record, overlay);
  }
  // checkHistory made sure there is at least one version.
  const record = importedModuleRecord(msg, msg.versions[msg.versions.length - 1] as ImportedVersion);
  overlay.put(moduleKey(record.id), encodeRecord(record));
  overlay.put(tenantModuleKey(record.tenant, record.id), EMPTY);
  const pruned = msg.versions.length - kept.length;
  return { result: { imported: true, record, pruned }, moduleDelta: 1, events: [createdEvent(record)] };
}
