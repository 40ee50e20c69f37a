import type { AuditEntry } from '../../auth/types.js';
import { wessError } from '../../errors.js';
import type { Applied } from '../group-writer.js';
import { applyAuthMessage, stageAudit } from './apply-auth.js';
import { applyImport } from './apply-import.js';
import { applyJobMessage } from './apply-jobs.js';
import { stageBlob, stageFilesBlob } from './blobs.js';
import { decodeRecord } from './codec.js';
import { dropHistory, loadVersion, pruneHistory, stageCurrent } from './history.js';
import { apiKeyKey, blobKey, isKeySafeId, moduleKey, tenantBytesKey, tenantModuleKey, versionKey } from './keys.js';
import type { Overlay } from './overlay.js';
import { chargeStorage, checkModuleCount } from './quota.js';
import { heldBytes, sumHeld } from '../quota.js';
import { contentOf, moduleRecord, uploadContent, type VersionContent } from '../records.js';
import { createdEvent, deletedEvent, nextRecord, pruneAudit, updatedEvent } from '../changes.js';
import { isJobMessage, type ModuleContent, type ModuleMessage, type ModuleRecord, type RouteMessage, type TenantQuota, type WriteMessage } from '../types.js';
import { applyRouteMessage, routeReadsOf } from './routes-store.js';
import { applyInvocations, dropInvocations, invocationReadsOf } from './invocations-store.js';
import { applyTenantSettings } from './tenant-settings-store.js';

/** What applying a message may depend on besides the message: the time, and the store's limits. */
export interface ApplyContext {
  /** ISO time of the batch: the time of the versions and records it writes. */
  now: string;
  /** Versions a module keeps (limits.max_versions): past it the oldest are pruned. */
  maxVersions: number;
}

type Msg<K extends WriteMessage['kind']> = Extract<WriteMessage, { kind: K }>;

/**
 * Stages one message on `overlay`. Throws a coded error (MODULE_NOT_FOUND, VERSION_CONFLICT, ...)
 * before staging anything the caller would regret; the writer discards the layer on any throw.
 */
export async function applyMessage(msg: WriteMessage, overlay: Overlay, context: ApplyContext): Promise<Applied> {
  if (isRouteMessage(msg)) return applyRouteMessage(msg, overlay);
  if (isJobMessage(msg)) return applyJobMessage(msg, overlay, context.now);
  if (msg.kind === 'append-invocations') return applyInvocations(msg, overlay);
  if (msg.kind === 'put-tenant-settings') return applyTenantSettings(msg, overlay);
  if (!isModuleMessage(msg)) return applyAuthMessage(msg, overlay);
  if (!isKeySafeId(msg.id)) throw wessError('VALIDATION', 'module id must be non-empty and must not contain "!"');
  const applied = await applyModuleMessage(msg, overlay, context);
  if ('audit' in msg && msg.audit) stageAudit(msg.audit, overlay);
  return applied;
}

/**
 * The keys applyMessage will read from the database for `msg`, so that the writer can read a whole
 * batch's keys ahead in one call (Overlay.prefetch). A key left out only costs its own read. An
 * upload reads only its blob's pointer (dedup), never the bytes under `c!`. A delete also reads the
 * pointers of the blobs it may drop (dropBlob), but which ones is known only once the module's
 * versions are read: those few reads go through the overlay one by one.
 */
export function readsOf(msg: WriteMessage): string[] {
  switch (msg.kind) {
    case 'create-module':
      return [moduleKey(msg.id), ...blobKeysOf(msg.content), tenantBytesKey(msg.tenant)];
    case 'update-module':
      return [moduleKey(msg.id), ...blobKeysOf(msg.content), ...tenantBytesOf(msg)];
    case 'rollback-module':
      return [moduleKey(msg.id), versionKey(msg.id, msg.toVersion), ...tenantBytesOf(msg)];
    case 'rename-module':
    case 'delete-module':
      return [moduleKey(msg.id), ...tenantBytesOf(msg)];
    case 'import-module':
      return [moduleKey(msg.id), tenantBytesKey(msg.tenant), ...msg.versions.flatMap((v) => blobKeysOf(v.content))];
    case 'revoke-key':
      return [apiKeyKey(msg.id)];
    case 'put-route':
    case 'delete-route':
      return routeReadsOf(msg);
    case 'append-invocations':
      return invocationReadsOf(msg);
    default:
      return [];
  }
}

/** The pointers of an upload's blobs: its binary's and its files image's. */
function blobKeysOf(content: ModuleContent): string[] {
  return content.files === undefined ? [blobKey(content.sha256)] : [blobKey(content.sha256), blobKey(content.files.summary.sha256)];
}

/** The byte count a change of an existing module updates, when the message names the tenant (an admin's does not). */
function tenantBytesOf(msg: { tenant?: string }): string[] {
  return msg.tenant === undefined ? [] : [tenantBytesKey(msg.tenant)];
}

function isRouteMessage(msg: WriteMessage): msg is RouteMessage {
  return msg.kind.endsWith('-route');
}

function isModuleMessage(msg: WriteMessage): msg is ModuleMessage {
  return msg.kind.endsWith('-module');
}

async function applyModuleMessage(msg: ModuleMessage, overlay: Overlay, context: ApplyContext): Promise<Applied> {
  switch (msg.kind) {
    case 'create-module':
      return applyCreate(msg, overlay, context.now);
    case 'update-module':
      return applyUpdate(msg, overlay, context);
    case 'rename-module':
      return applyRename(msg, overlay, context);
    case 'rollback-module':
      return applyRollback(msg, overlay, context);
    case 'delete-module': {
      const applied = await applyDelete(msg, overlay);
      await dropInvocations(msg.id, overlay);
      return applied;
    }
    case 'import-module':
      return applyImport(msg, overlay, context.maxVersions);
  }
}

async function applyCreate(msg: Msg<'create-module'>, overlay: Overlay, now: string): Promise<Applied> {
  if (await overlay.has(moduleKey(msg.id))) {
    // Ids are server-generated UUIDv4s, so a clash is a bug, not a client conflict.
    throw wessError('INTERNAL', `module id ${msg.id} already exists`);
  }
  await checkModuleCount(msg.tenant, overlay, msg.quota);
  await stageBlob(msg.content, overlay);
  await stageFilesBlob(msg.content.files, overlay);
  const record = moduleRecord(msg.id, msg.tenant, 1, uploadContent(msg.content, msg.name), now, now);
  await chargeStorage(record.tenant, heldBytes(record), overlay, msg.quota);
  stageCurrent(record, overlay);
  overlay.put(tenantModuleKey(record.tenant, record.id), EMPTY);
  return { result: record, moduleDelta: 1, events: [createdEvent(record)] };
}

const EMPTY = new Uint8Array(0);

async function applyUpdate(msg: Msg<'update-module'>, overlay: Overlay, context: ApplyContext): Promise<Applied> {
  const current = await loadCurrent(msg, overlay);
  await stageBlob(msg.content, overlay);
  await stageFilesBlob(msg.content.files, overlay);
  return stageNext(current, uploadContent(msg.content, msg.name ?? current.name), msg, overlay, context);
}

/** A new name on the current content, decided here rather than in the route so a concurrent PUT's content is kept. */
async function applyRename(msg: Msg<'rename-module'>, overlay: Overlay, context: ApplyContext): Promise<Applied> {
  const current = await loadCurrent(msg, overlay);
  return stageNext(current, contentOf(current, msg.name), msg, overlay, context);
}

/** Version N's content, files and name as a new version: history only grows. Its blobs are live, N references them. */
async function applyRollback(msg: Msg<'rollback-module'>, overlay: Overlay, context: ApplyContext): Promise<Applied> {
  const current = await loadCurrent(msg, overlay);
  const target = await loadVersion(msg.id, msg.toVersion, overlay);
  return stageNext(current, target, msg, overlay, context, msg.toVersion);
}

async function applyDelete(msg: Msg<'delete-module'>, overlay: Overlay): Promise<Applied> {
  const previous = await loadCurrent(msg, overlay);
  overlay.del(moduleKey(msg.id));
  overlay.del(tenantModuleKey(previous.tenant, previous.id));
  const dropped = await dropHistory(msg.id, overlay);
  await chargeStorage(previous.tenant, -sumHeld(dropped), overlay);
  return { result: previous, moduleDelta: -1, events: [deletedEvent(previous)] };
}

/**
 * The module's current record; MODULE_NOT_FOUND when there is none or it belongs to another
 * tenant than the message names (the same answer, so existence does not leak), or
 * VERSION_CONFLICT when If-Match names another version.
 */
async function loadCurrent(msg: { id: string; expectVersion?: number; tenant?: string }, overlay: Overlay): Promise<ModuleRecord> {
  const bytes = await overlay.get(moduleKey(msg.id));
  const record = bytes ? decodeRecord(bytes) : undefined;
  if (!record || (msg.tenant !== undefined && record.tenant !== msg.tenant)) {
    throw wessError('MODULE_NOT_FOUND', `no module with id ${msg.id}`, { id: msg.id });
  }
  // Checked against the overlay, so an earlier message of the same batch already counts.
  if (msg.expectVersion !== undefined && msg.expectVersion !== record.version) {
    throw wessError(
      'VERSION_CONFLICT',
      `module ${msg.id} is at version ${record.version}, not version ${msg.expectVersion} as If-Match expects`,
      { current_version: record.version, expected_version: msg.expectVersion },
    );
  }
  return record;
}

/**
 * Stages version current+1 from `content`, prunes the versions past limits.max_versions (audited in
 * the same batch), charges the tenant's storage with the difference, and the module.updated event.
 */
async function stageNext(
  current: ModuleRecord,
  content: VersionContent,
  msg: { quota?: TenantQuota; audit?: AuditEntry },
  overlay: Overlay,
  context: ApplyContext,
  rollbackFrom?: number,
): Promise<Applied> {
  const record = nextRecord(current, content, context.now);
  stageCurrent(record, overlay);
  const pruned = await pruneHistory(record.id, record.version, context.maxVersions, overlay);
  const held = heldBytes(record);
  await chargeStorage(record.tenant, held - sumHeld(pruned), overlay, msg.quota, held);
  if (pruned.length > 0) stageAudit(pruneAudit(record, pruned, context, msg.audit), overlay);
  return { result: record, moduleDelta: 0, events: [updatedEvent(record, current, pruned, rollbackFrom)] };
}
