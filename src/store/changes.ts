import { auditId } from '../auth/audit.js';
import type { AuditEntry } from '../auth/types.js';
import type { ModuleEvents } from '../events.js';
import type { Announcement } from './group-writer.js';
import { sumHeld } from './quota.js';
import { wessError } from '../errors.js';
import { moduleRecord, type VersionContent } from './records.js';
import { MAX_VERSION, type FilesSummary, type ModuleRecord, type WriteMessage } from './types.js';

/**
 * What a change to a module announces and audits beside itself, the same from every engine: the
 * module events (events.ts) and the audit entry of a pruning.
 */

/** A version as deleting and pruning see it: enough to drop it and to account for its bytes. */
export interface DroppedVersion {
  version: number;
  sha256: string;
  size: number;
  files?: FilesSummary;
}

export function createdEvent(record: ModuleRecord): Announcement {
  return { topic: 'module.created', payload: { id: record.id, tenant: record.tenant, sha256: record.sha256, version: record.version } };
}

export function deletedEvent(previous: ModuleRecord): Announcement {
  return { topic: 'module.deleted', payload: { id: previous.id, tenant: previous.tenant, sha256: previous.sha256 } };
}

/** A new version: `rollbackFrom` when it restores an old one, `pruned` the versions it pushed out. */
export function updatedEvent(record: ModuleRecord, previous: ModuleRecord, pruned: readonly DroppedVersion[], rollbackFrom?: number): Announcement {
  const payload: ModuleEvents['module.updated'] = {
    id: record.id,
    tenant: record.tenant,
    sha256: record.sha256,
    version: record.version,
    previous_sha256: previous.sha256,
  };
  if (rollbackFrom !== undefined) payload.rollback_from = rollbackFrom;
  if (pruned.length > 0) payload.pruned_versions = pruned.map((v) => v.version);
  return { topic: 'module.updated', payload };
}

/**
 * The audit entry of a pruning: done by whoever made the version that pushed the old ones out (the
 * request's actor, request id and IP), written in the same batch as the change and its own entry.
 */
export function pruneAudit(
  record: ModuleRecord,
  pruned: readonly DroppedVersion[],
  context: { now: string; maxVersions: number },
  cause: AuditEntry | undefined,
): AuditEntry {
  return {
    id: auditId(),
    at: context.now,
    actor: cause?.actor ?? null,
    tenant: record.tenant,
    action: 'module.prune',
    target: record.id,
    request_id: cause?.request_id ?? '',
    ip: cause?.ip ?? '',
    status: cause?.status ?? 200,
    outcome: 'success',
    details: { versions: pruned.map((v) => v.version), bytes: sumHeld(pruned), max_versions: context.maxVersions, by_version: record.version },
  };
}

/** An imported module's tenant must be a usable id, and its versions whole numbers in increasing order. */
export function checkImport(msg: Extract<WriteMessage, { kind: 'import-module' }>): void {
  if (msg.tenant === '' || msg.tenant.includes('!')) throw wessError('VALIDATION', 'tenant must be non-empty and must not contain "!"');
  if (msg.versions.length === 0) throw wessError('VALIDATION', `module ${msg.id} has no versions`);
  let previous = 0;
  for (const { version } of msg.versions) {
    if (!Number.isInteger(version) || version <= previous || version > MAX_VERSION) {
      throw wessError('VALIDATION', `module ${msg.id}: versions must be increasing whole numbers from 1 to ${MAX_VERSION}`);
    }
    previous = version;
  }
}

/** The record of a module's next version, holding `content`; VALIDATION once every version number is used. */
export function nextRecord(current: ModuleRecord, content: VersionContent, now: string): ModuleRecord {
  if (current.version >= MAX_VERSION) {
    throw wessError('VALIDATION', `module ${current.id} has used every version number; upload it as a new module`);
  }
  return moduleRecord(current.id, current.tenant, current.version + 1, content, current.created_at, now);
}
