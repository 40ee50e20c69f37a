import type { Applied } from '../group-writer.js';
import type { TenantSettingsStore } from '../store.js';
import type { TenantSettings, WriteMessage } from '../types.js';
import { stageAudit } from './apply-auth.js';
import { decodeJson, encodeJson } from './codec.js';
import type { Db } from './db.js';
import { tenantSettingsKey, tenantSettingsRange } from './keys.js';
import type { Overlay } from './overlay.js';

/** Tenants' settings under `ts!<tenant>`, as JSON. */
export class LevelTenantSettingsStore implements TenantSettingsStore {
  constructor(private readonly db: Db) {}

  async all(): Promise<TenantSettings[]> {
    const all: TenantSettings[] = [];
    for await (const [, value] of this.db.entries(tenantSettingsRange())) all.push(decodeJson<TenantSettings>(value));
    return all;
  }
}

/** Stages a tenant's new settings, announced once durable so every settings table follows. */
export function applyTenantSettings(msg: Extract<WriteMessage, { kind: 'put-tenant-settings' }>, overlay: Overlay): Applied {
  const { settings } = msg;
  overlay.put(tenantSettingsKey(settings.tenant), encodeJson(settings));
  if (msg.audit) stageAudit(msg.audit, overlay);
  return { result: settings, moduleDelta: 0, events: [{ topic: 'tenant.settings', payload: { id: settings.tenant, tenant: settings.tenant, settings } }] };
}
