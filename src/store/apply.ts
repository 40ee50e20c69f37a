import { wessError } from '../errors.js';
import type { EventBus } from '../events.js';
import { decodeRecord, encodeRecord, sha256Hex } from './codec.js';
import { blobKey, isKeySafeId, moduleKey, refKey, refPrefix } from './keys.js';
import type { Overlay } from './overlay.js';
import type { ModuleContent, ModuleRecord, WriteMessage } from './types.js';

/** What one message did: the record to answer with, and how to announce it once durable. */
export interface Applied {
  record: ModuleRecord;
  /** +1 for a create, -1 for a delete, 0 for an update: keeps the modules gauge exact. */
  moduleDelta: number;
  announce(events: EventBus): void;
}

const EMPTY = new Uint8Array(0);

/**
 * Stages one message on `overlay`. Throws a coded error (MODULE_NOT_FOUND, VALIDATION, ...)
 * before staging anything the caller would regret; the writer discards the layer on any throw.
 */
export async function applyMessage(msg: WriteMessage, overlay: Overlay, now: string): Promise<Applied> {
  if (!isKeySafeId(msg.id)) throw wessError('VALIDATION', 'module id must be non-empty and must not contain "!"');
  switch (msg.kind) {
    case 'create-module':
      return applyCreate(msg, overlay, now);
    case 'update-module':
      return applyUpdate(msg, overlay, now);
    case 'delete-module':
      return applyDelete(msg, overlay);
  }
}

type Msg<K extends WriteMessage['kind']> = Extract<WriteMessage, { kind: K }>;

async function applyCreate(msg: Msg<'create-module'>, overlay: Overlay, now: string): Promise<Applied> {
  if (await overlay.has(moduleKey(msg.id))) {
    // Ids are server-generated UUIDv4s, so a clash is a bug, not a client conflict.
    throw wessError('INTERNAL', `module id ${msg.id} already exists`);
  }
  await stageContent(msg, msg.id, overlay);
  const record = buildRecord(msg, { id: msg.id, name: msg.name, version: 1, created_at: now }, now);
  overlay.put(moduleKey(msg.id), encodeRecord(record));
  const event = { id: record.id, sha256: record.sha256, version: record.version };
  return { record, moduleDelta: 1, announce: (bus) => bus.emit('module.created', event) };
}

async function applyUpdate(msg: Msg<'update-module'>, overlay: Overlay, now: string): Promise<Applied> {
  const previous = await loadRecord(msg.id, overlay);
  await stageContent(msg, msg.id, overlay);
  if (previous.sha256 !== msg.sha256) await dropReference(previous.sha256, msg.id, overlay);
  const record = buildRecord(
    msg,
    { id: msg.id, name: msg.name ?? previous.name, version: previous.version + 1, created_at: previous.created_at },
    now,
  );
  overlay.put(moduleKey(msg.id), encodeRecord(record));
  const event = { id: record.id, sha256: record.sha256, version: record.version, previous_sha256: previous.sha256 };
  return { record, moduleDelta: 0, announce: (bus) => bus.emit('module.updated', event) };
}

async function applyDelete(msg: Msg<'delete-module'>, overlay: Overlay): Promise<Applied> {
  const previous = await loadRecord(msg.id, overlay);
  overlay.del(moduleKey(msg.id));
  await dropReference(previous.sha256, msg.id, overlay);
  const event = { id: previous.id, sha256: previous.sha256 };
  return { record: previous, moduleDelta: -1, announce: (bus) => bus.emit('module.deleted', event) };
}

/** The module's current record, or MODULE_NOT_FOUND. */
async function loadRecord(id: string, overlay: Overlay): Promise<ModuleRecord> {
  const bytes = await overlay.get(moduleKey(id));
  if (!bytes) throw wessError('MODULE_NOT_FOUND', `no module with id ${id}`, { id });
  return decodeRecord(bytes);
}

/** Stores the blob unless that hash is already stored (dedup), and references it from `id`. */
async function stageContent(content: ModuleContent, id: string, overlay: Overlay): Promise<void> {
  if (!(await overlay.has(blobKey(content.sha256)))) {
    // Checked only for new blobs: a wrong hash here would poison every later upload that dedups onto it.
    if (sha256Hex(content.content) !== content.sha256) {
      throw wessError('INTERNAL', `content does not match its sha256 ${content.sha256}`);
    }
    overlay.put(blobKey(content.sha256), content.content);
  }
  overlay.put(refKey(content.sha256, id), EMPTY);
}

/** Removes `id`'s reference to a blob, and the blob itself when nothing references it any more. */
async function dropReference(sha256: string, id: string, overlay: Overlay): Promise<void> {
  overlay.del(refKey(sha256, id));
  if (!(await overlay.hasPrefix(refPrefix(sha256)))) overlay.del(blobKey(sha256));
}

/** A full record from the content and the identity fields; fields listed so none leak from old JSON. */
function buildRecord(
  content: ModuleContent,
  identity: Pick<ModuleRecord, 'id' | 'name' | 'version' | 'created_at'>,
  now: string,
): ModuleRecord {
  return {
    id: identity.id,
    name: identity.name,
    version: identity.version,
    sha256: content.sha256,
    size: content.content.byteLength,
    exports: content.exports,
    memory: content.memory,
    created_at: identity.created_at,
    updated_at: now,
  };
}
