import { checkModules, checkStorage } from '../quota.js';
import type { BlobReader } from './blobs.js';
import { decodeCount, encodeCount } from './codec.js';
import { tenantBytesKey, tenantModulePrefix } from './keys.js';
import type { Overlay } from './overlay.js';
import type { TenantQuota } from '../types.js';

/**
 * The per-tenant quotas (../quota.ts) over LevelDB: the bytes a tenant holds are kept under
 * `tb!<tenant>` and changed in the same batch as the versions they count, so the count is always
 * exact and survives restarts; modules are counted through the tenant's `t!` index.
 */

/** Bytes `tenant` holds (0 when it holds nothing). */
export async function tenantBytes(source: BlobReader, tenant: string): Promise<number> {
  const value = await source.get(tenantBytesKey(tenant));
  return value === undefined ? 0 : decodeCount(value);
}

/**
 * Stages `tenant`'s count changed by `delta` bytes. A change that adds bytes (`delta` > 0) is refused
 * with TIER_LIMIT when the count would pass the quota's max_storage; one that frees bytes never is,
 * even over the quota (a tier lowered since). `adding` is the new content, named in the refusal.
 */
export async function chargeStorage(tenant: string, delta: number, overlay: Overlay, quota?: TenantQuota, adding = delta): Promise<void> {
  if (delta === 0) return;
  const held = await tenantBytes(overlay, tenant);
  checkStorage(tenant, held, delta, quota, adding);
  const next = Math.max(0, held + delta);
  if (next === 0) overlay.del(tenantBytesKey(tenant));
  else overlay.put(tenantBytesKey(tenant), encodeCount(next));
}

/**
 * The tier's module count, checked here rather than in the route: two creates racing for the
 * last slot are applied one after the other on the same overlay, so only one of them gets it.
 */
export async function checkModuleCount(tenant: string, overlay: Overlay, quota: TenantQuota | undefined): Promise<void> {
  if (quota?.maxModules === undefined) return;
  checkModules(tenant, (await overlay.entries(tenantModulePrefix(tenant))).length, quota);
}
