import type pg from 'pg';
import type { Applied } from '../group-writer.js';
import type { TenantSettingsStore } from '../store.js';
import type { TenantSettings, WriteMessage } from '../types.js';

/** Tenants' settings in wess_tenant_settings. */
export class PgTenantSettingsStore implements TenantSettingsStore {
  constructor(private readonly pool: pg.Pool) {}

  async all(): Promise<TenantSettings[]> {
    const res = await this.pool.query<{ record: TenantSettings }>('SELECT record FROM wess_tenant_settings ORDER BY tenant');
    return res.rows.map((row) => row.record);
  }
}

/** A tenant's new settings, inside the writer's transaction; announced once committed. */
export async function applyTenantSettings(c: pg.PoolClient, msg: Extract<WriteMessage, { kind: 'put-tenant-settings' }>): Promise<Applied> {
  const { settings } = msg;
  await c.query('INSERT INTO wess_tenant_settings (tenant, record) VALUES ($1, $2) ON CONFLICT (tenant) DO UPDATE SET record = EXCLUDED.record', [settings.tenant, JSON.stringify(settings)]);
  return { result: settings, moduleDelta: 0, events: [{ topic: 'tenant.settings', payload: { id: settings.tenant, tenant: settings.tenant, settings } }] };
}
