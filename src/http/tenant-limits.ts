import { limitsFor, tenantLimits, type EffectiveLimits } from '../auth/policy.js';
import type { Principal } from '../auth/types.js';
import type { Config } from '../config/schema.js';
import { wessError } from '../errors.js';
import type { TenantQuota } from '../store/types.js';
import type { Services } from '../services.js';

/** The limits a change is held to, and whether an admin forced it past its tenant's tier. */
export interface ActingLimits {
  limits: EffectiveLimits;
  /** True when an admin asked for ?force=true: the change gets the admin's own limits and its audit entry says so. */
  forced: boolean;
}

/**
 * The limits a change to `tenant`'s modules (an upload, update, rollback, import) is held to: the
 * key's own tier, except for an admin acting in another tenant, who gets that tenant's (what its own
 * keys could do, tenantLimits): an admin must not put into a free tenant what the free tier refuses.
 * `force` lifts that for admins (their own limits apply: the global ones) and is refused for others.
 */
export function limitsInTenant(services: Pick<Services, 'config' | 'keyring'>, principal: Principal, tenant: string, force: boolean): ActingLimits {
  if (force && principal.role !== 'admin') throw wessError('FORBIDDEN', 'only admin keys may force a change past a tenant\'s tier');
  if (principal.role !== 'admin' || tenant === principal.tenant || force) return { limits: limitsFor(services.config, principal), forced: force };
  return { limits: tenantLimitsOf(services, tenant), forced: false };
}

/** `tenant`'s limits from the tiers of its keys that are not revoked. */
export function tenantLimitsOf(services: { config: Config; keyring: Pick<Services['keyring'], 'tiersOf'> }, tenant: string): EffectiveLimits {
  return tenantLimits(services.config, services.keyring.tiersOf(tenant));
}

/** The per-tenant quotas of `limits`, for the writer to check against what is stored. */
export function quotaOf(limits: EffectiveLimits): TenantQuota {
  return { tier: limits.tier, maxModules: limits.maxModules, maxStorage: limits.maxStorage };
}
