import { wessError } from '../../errors.js';
import type { Applied } from './apply.js';
import { stageBlob, stageFilesBlob } from './blobs.js';
import { decodeRecord, encodeRecord, encodeVersion } from './codec.js';
import { stageRefs } from './history.js';
import { isKeySafeId, MAX_VERSION, moduleKey, tenantModuleKey, versionKey } from './keys.js';
import type { Overlay } from './overlay.js';
import { chargeStorage, checkModuleCount, sumHeld } from './quota.js';
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
  if (existing) return { result: { imported: false, record: decodeRecord(existing), pruned: 0 }, moduleDelta: 0, announce: () => {} };
  checkHistory(msg);
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
  const event = { id: record.id, tenant: record.tenant, sha256: record.sha256, version: record.version };
  const pruned = msg.versions.length - kept.length;
  return { result: { imported: true, record, pruned }, moduleDelta: 1, announce: (bus) => bus.emit('module.created', event) };
}

/** Versions must be whole numbers in increasing order; the last one is the current version. */
function checkHistory(msg: ImportMessage): void {
  if (!isKeySafeId(msg.tenant)) throw wessError('VALIDATION', 'tenant must be non-empty and must not contain "!"');
  if (msg.versions.length === 0) throw wessError('VALIDATION', `module ${msg.id} has no versions`);
  let previous = 0;
  for (const { version } of msg.versions) {
    if (!Number.isInteger(version) || version <= previous || version > MAX_VERSION) {
      throw wessError('VALIDATION', `module ${msg.id}: versions must be increasing whole numbers from 1 to ${MAX_VERSION}`);
    }
    previous = version;
  }
}
