import { wessError } from '../errors.js';
import { contentSha256, decodeVersion, encodeRecord, encodeVersion } from './codec.js';
import { blobKey, moduleKey, refKey, refPrefix, versionKey, versionOfKey, versionPrefix } from './keys.js';
import type { Overlay } from './overlay.js';
import type { ModuleContent, ModuleRecord, VersionRecord } from './types.js';

/**
 * Staging helpers for module versions and the blobs they reference. Every version owns one
 * reference key to its blob, so a blob lives exactly as long as some version of some module uses it.
 */

const EMPTY = new Uint8Array(0);

/** Stores the blob unless that hash is already stored (dedup); refuses bytes that do not match their hash. */
export async function stageBlob(content: ModuleContent, overlay: Overlay): Promise<void> {
  if (await overlay.has(blobKey(content.sha256))) return;
  // Checked only for new blobs: a wrong hash here would poison every later upload that dedups onto it.
  if (contentSha256(content.content) !== content.sha256) {
    throw wessError('INTERNAL', `content does not match its sha256 ${content.sha256}`);
  }
  overlay.put(blobKey(content.sha256), content.content);
}

/** Makes `record` the module's current version: the current record, its version record and its blob reference. */
export function stageCurrent(record: ModuleRecord, overlay: Overlay): void {
  overlay.put(moduleKey(record.id), encodeRecord(record));
  overlay.put(versionKey(record.id, record.version), encodeVersion(versionOf(record)));
  overlay.put(refKey(record.sha256, record.id, record.version), EMPTY);
}

/** One version of module `id`, or VERSION_NOT_FOUND. */
export async function loadVersion(id: string, version: number, overlay: Overlay): Promise<VersionRecord> {
  const bytes = await overlay.get(versionKey(id, version));
  if (!bytes) throw wessError('VERSION_NOT_FOUND', `module ${id} has no version ${version}`, { id, version });
  return decodeVersion(bytes);
}

/** Removes every version of module `id` and their references, then each blob that lost its last one. */
export async function dropHistory(id: string, overlay: Overlay): Promise<void> {
  const hashes = new Set<string>();
  for (const [key, value] of await overlay.entries(versionPrefix(id))) {
    const { sha256 } = decodeVersion(value);
    overlay.del(key);
    overlay.del(refKey(sha256, id, versionOfKey(key)));
    hashes.add(sha256);
  }
  // One liveness check per distinct blob, after all of this module's references are gone.
  for (const sha256 of hashes) {
    if (!(await overlay.hasPrefix(refPrefix(sha256)))) overlay.del(blobKey(sha256));
  }
}

/** The version record a module record stands for; fields listed so none leak from old JSON. */
export function versionOf(record: ModuleRecord): VersionRecord {
  return {
    id: record.id,
    version: record.version,
    name: record.name,
    sha256: record.sha256,
    size: record.size,
    exports: record.exports,
    memory: record.memory,
    kind: record.kind,
    // A version is made when the module record carrying it is written.
    created_at: record.updated_at,
  };
}
