import type { AuditEntry, KeyRecord } from '../../auth/types.js';
import { wessError } from '../../errors.js';
import type { Applied } from '../group-writer.js';
import { decodeJson, encodeJson } from './codec.js';
import { apiKeyKey, auditKey, tenantAuditKey, usageKey } from './keys.js';
import type { Overlay } from './overlay.js';
import type { JobMessage, ModuleMessage, RouteMessage, WriteMessage } from '../types.js';

type AuthMessage = Exclude<WriteMessage, ModuleMessage | RouteMessage | JobMessage | { kind: 'append-invocations' } | { kind: 'put-tenant-settings' }>;

/** Stages a message about keys, usage, the audit log or metadata. */
export async function applyAuthMessage(msg: AuthMessage, overlay: Overlay): Promise<Applied> {
  switch (msg.kind) {
    case 'put-key': {
      const existing = msg.ifAbsent ? await overlay.get(apiKeyKey(msg.key.id)) : undefined;
      if (existing) return quietly(decodeJson<KeyRecord>(existing));
      overlay.put(apiKeyKey(msg.key.id), encodeJson(msg.key));
      if (msg.audit) stageAudit(msg.audit, overlay);
      const key = msg.key;
      return { result: key, moduleDelta: 0, events: [{ topic: 'key.stored', payload: { id: key.id, tenant: key.tenant, key } }] };
    }
    case 'revoke-key': {
      const key = await revoke(msg.id, msg.tenant, overlay);
      if (msg.audit) stageAudit(msg.audit, overlay);
      return { result: key, moduleDelta: 0, events: [{ topic: 'key.revoked', payload: { id: key.id, tenant: key.tenant, key } }] };
    }
    case 'append-audit':
      stageAudit(msg.entry, overlay);
      return quietly(msg.entry);
    case 'append-audit-batch':
      for (const entry of msg.entries) stageAudit(entry, overlay);
      return quietly(null);
    case 'put-usage':
      for (const { keyId, usage } of msg.usage) overlay.put(usageKey(keyId), encodeJson(usage));
      return quietly(null);
    case 'put-meta':
      overlay.put(msg.key, msg.value);
      return quietly(null);
  }
}

function quietly(result: unknown): Applied {
  return { result, moduleDelta: 0, events: [] };
}

/** Revoking twice keeps the first time; a key of another tenant than `tenant` is KEY_NOT_FOUND. */
async function revoke(id: string, tenant: string | undefined, overlay: Overlay): Promise<KeyRecord> {
  const bytes = await overlay.get(apiKeyKey(id));
  const key = bytes ? decodeJson<KeyRecord>(bytes) : undefined;
  if (!key || (tenant !== undefined && key.tenant !== tenant)) throw wessError('KEY_NOT_FOUND', `no key with id ${id}`);
  if (key.revoked_at !== null) return key;
  const revoked: KeyRecord = { ...key, revoked_at: new Date().toISOString() };
  overlay.put(apiKeyKey(id), encodeJson(revoked));
  return revoked;
}

/** An audit entry in the global log and, when it has one, its tenant's log: same batch as what it records. */
export function stageAudit(entry: AuditEntry, overlay: Overlay): void {
  const bytes = encodeJson(entry);
  overlay.put(auditKey(entry.id), bytes);
  if (entry.tenant !== null) overlay.put(tenantAuditKey(entry.tenant, entry.id), bytes);
}
