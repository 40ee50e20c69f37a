import { wessError } from '../../errors.js';
import type { BlobReader } from './blobs.js';
import { decodeCount, encodeCount } from './codec.js';
import { tenantBytesKey, tenantModulePrefix } from './keys.js';
import type { Overlay } from './overlay.js';
import type { TenantQuota } from '../types.js';

/**
 * The per-tenant quotas the writer enforces: modules (max_modules) and bytes of content held
 * (max_storage). Both are checked against the batch being built, so racing writes cannot overshoot.
 *
 * The bytes a tenant holds are kept under `tb!<tenant>` and changed in the same batch as the
 * versions they count, so the count is always exact and survives restarts.
 *
 * Every kept version counts its whole size (its binary and its files image), even when its content is shared (a rename, a rollback,
 * the same bytes in another module or tenant): this is what the tenant holds, the sum of the sizes
 * its version lists show, not what the disk holds after deduplication. Counting distinct blobs per
 * tenant would make one tenant's quota depend on what another tenant uploaded first.
 */

/** Bytes one version holds: its binary and, when it has files, their image. */
export function heldBytes(version: { size: number; files?: { size: number } }): number {
  return version.size + (version.files?.size ?? 0);
}

/** Bytes a list of versions holds. */
export function sumHeld(versions: ReadonlyArray<{ size: number; files?: { size: number } }>): number {
  return versions.reduce((sum, v) => sum + heldBytes(v), 0);
}

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
  const limit = quota?.maxStorage;
  if (delta > 0 && limit !== undefined && held + delta > limit) {
    const tier = quota?.tier ?? null;
    const freed = adding - delta;
    throw wessError(
      'TIER_LIMIT',
      `tenant ${tenant} holds ${held} bytes and this adds ${adding}${freed > 0 ? ` (${freed} freed by pruning old versions)` : ''}; ` +
        `${tier === null ? 'the limit' : `tier ${tier}`} allows ${limit} bytes (max_storage). Delete modules or versions first, or use a key of a bigger tier`,
      { quota: 'max_storage', held, adding, limit, tier },
    );
  }
  const next = Math.max(0, held + delta);
  if (next === 0) overlay.del(tenantBytesKey(tenant));
  else overlay.put(tenantBytesKey(tenant), encodeCount(next));
}

/**
 * The tier's module count, checked here rather than in the route: two creates racing for the
 * last slot are applied one after the other on the same overlay, so only one of them gets it.
 */
export async function checkModuleCount(tenant: string, overlay: Overlay, quota: TenantQuota | undefined): Promise<void> {
  const maxModules = quota?.maxModules;
  if (maxModules === undefined) return;
  const tier = quota?.tier ?? null;
  const count = (await overlay.entries(tenantModulePrefix(tenant))).length;
  if (count >= maxModules) {
    throw wessError(
      'TIER_LIMIT',
      `tenant ${tenant} already has ${count} modules; ${tier === null ? 'the limit' : `tier ${tier}`} allows ${maxModules}. Delete one first, or use a key of a bigger tier`,
      { quota: 'max_modules', limit: maxModules, tier },
    );
  }
}
