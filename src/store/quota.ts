import { wessError } from '../errors.js';
import type { TenantQuota } from './types.js';

/**
 * The per-tenant quotas every engine's writer enforces, checked against what is stored as each
 * message is applied: modules (max_modules) and bytes of content held (max_storage).
 *
 * Every kept version counts its whole size (its binary and its files image), even when its content is
 * shared (a rename, a rollback, the same bytes in another module or tenant): this is what the tenant
 * holds, the sum of the sizes its version lists show, not what the disk holds after deduplication.
 * Counting distinct blobs per tenant would make one tenant's quota depend on what another uploaded first.
 */

/** Bytes one version holds: its binary and, when it has files, their image. */
export function heldBytes(version: { size: number; files?: { size: number } }): number {
  return version.size + (version.files?.size ?? 0);
}

/** Bytes a list of versions holds. */
export function sumHeld(versions: ReadonlyArray<{ size: number; files?: { size: number } }>): number {
  return versions.reduce((sum, v) => sum + heldBytes(v), 0);
}

/**
 * Throws TIER_LIMIT when a change adding `delta` bytes (`adding` of new content, the rest freed by
 * pruning) would take a tenant holding `held` past max_storage. A change that frees bytes never is
 * refused, even over the quota (a tier lowered since).
 */
export function checkStorage(tenant: string, held: number, delta: number, quota: TenantQuota | undefined, adding = delta): void {
  const limit = quota?.maxStorage;
  if (delta <= 0 || limit === undefined || held + delta <= limit) return;
  const tier = quota?.tier ?? null;
  const freed = adding - delta;
  throw wessError(
    'TIER_LIMIT',
    `tenant ${tenant} holds ${held} bytes and this adds ${adding}${freed > 0 ? ` (${freed} freed by pruning old versions)` : ''}; ` +
      `${tier === null ? 'the limit' : `tier ${tier}`} allows ${limit} bytes (max_storage). Delete modules or versions first, or use a key of a bigger tier`,
    { quota: 'max_storage', held, adding, limit, tier },
  );
}

/** Throws TIER_LIMIT when a tenant with `count` modules may not have another. */
export function checkModules(tenant: string, count: number, quota: TenantQuota | undefined): void {
  const maxModules = quota?.maxModules;
  if (maxModules === undefined || count < maxModules) return;
  const tier = quota?.tier ?? null;
  throw wessError(
    'TIER_LIMIT',
    `tenant ${tenant} already has ${count} modules; ${tier === null ? 'the limit' : `tier ${tier}`} allows ${maxModules}. Delete one first, or use a key of a bigger tier`,
    { quota: 'max_modules', limit: maxModules, tier },
  );
}
