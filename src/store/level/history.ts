import { wessError } from '../../errors.js';
import { dropBlob } from './blobs.js';
import { decodeVersion, encodeRecord, encodeVersion } from './codec.js';
import { moduleKey, refKey, refPrefix, versionKey, versionPrefix } from './keys.js';
import type { Overlay } from './overlay.js';
import { versionOf } from '../records.js';
import type { DroppedVersion } from '../changes.js';
import type { FilesSummary, ModuleRecord, VersionRecord } from '../types.js';

/**
 * Staging helpers for module versions and their blob references. Every version owns one reference
 * key to its blob, so a blob (blobs.ts) lives exactly as long as some version of some module uses it.
 */

const EMPTY = new Uint8Array(0);

/** Makes `record` the module's current version: the current record, its version record and its blob references. */
export function stageCurrent(record: ModuleRecord, overlay: Overlay): void {
  overlay.put(moduleKey(record.id), encodeRecord(record));
  overlay.put(versionKey(record.id, record.version), encodeVersion(versionOf(record)));
  stageRefs(record, overlay);
}

/**
 * The references of one version: to its binary and, when it has files, to their image. A files
 * image lives and dies by its references exactly as a binary does (dedup, pruning, deletion).
 */
export function stageRefs(version: { id: string; version: number; sha256: string; files?: FilesSummary }, overlay: Overlay): void {
  overlay.put(refKey(version.sha256, version.id, version.version), EMPTY);
  if (version.files !== undefined) overlay.put(refKey(version.files.sha256, version.id, version.version), EMPTY);
}

/** One version of module `id`, or VERSION_NOT_FOUND. */
export async function loadVersion(id: string, version: number, overlay: Overlay): Promise<VersionRecord> {
  const bytes = await overlay.get(versionKey(id, version));
  if (!bytes) throw wessError('VERSION_NOT_FOUND', `module ${id} has no version ${version}`, { id, version });
  return decodeVersion(bytes);
}


/** Removes every version of module `id` and their references, then each blob that lost its last one; returns them. */
export async function dropHistory(id: string, overlay: Overlay): Promise<DroppedVersion[]> {
  const versions = (await overlay.entries(versionPrefix(id))).map(([, value]) => dropped(value));
  await dropVersions(id, versions, overlay);
  return versions;
}

/**
 * Keeps the newest `keep` versions of module `id` and removes the older ones, their references and
 * each blob that lost its last one; returns what it removed, oldest first. The current version is
 * the newest, so it always stays, and content an old version shares with a kept one (the version a
 * rollback restored) stays with it.
 */
export async function pruneHistory(id: string, currentVersion: number, keep: number, overlay: Overlay): Promise<DroppedVersion[]> {
  // Version numbers only grow, one per version: a module at version n has at most n versions.
  if (currentVersion <= keep) return [];
  const versions = await overlay.entries(versionPrefix(id));
  if (versions.length <= keep) return [];
  // Keys sort by zero-padded version number, so the oldest come first.
  const old = versions.slice(0, versions.length - keep).map(([, value]) => dropped(value));
  await dropVersions(id, old, overlay);
  return old;
}

function dropped(value: Uint8Array): DroppedVersion {
  const { version, sha256, size, files } = decodeVersion(value);
  return files === undefined ? { version, sha256, size } : { version, sha256, size, files };
}

async function dropVersions(id: string, versions: readonly DroppedVersion[], overlay: Overlay): Promise<void> {
  const hashes = new Set<string>();
  for (const { version, sha256, files } of versions) {
    overlay.del(versionKey(id, version));
    overlay.del(refKey(sha256, id, version));
    hashes.add(sha256);
    if (files !== undefined) {
      overlay.del(refKey(files.sha256, id, version));
      hashes.add(files.sha256);
    }
  }
  // One liveness check per distinct blob, after all of these references are gone.
  for (const sha256 of hashes) {
    if (!(await overlay.hasPrefix(refPrefix(sha256)))) await dropBlob(sha256, overlay);
  }
}
