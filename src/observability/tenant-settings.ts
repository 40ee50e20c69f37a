import type { EventBus } from '../events.js';
import type { TenantSettingsStore } from '../store/store.js';
import type { TenantSettings } from '../store/types.js';

/** What a tenant that never chose gets. */
export function defaultTenantSettings(tenant: string): TenantSettings {
  return { tenant, capture_args: false, updated_at: null };
}

/**
 * Every tenant's settings, in memory: a call must not wait on the store to learn whether its
 * arguments are logged. Loaded at start; kept current by the writer's tenant.settings events (once a
 * change is durable, and on a shared store when another node's is heard).
 */
export class TenantSettingsTable {
  readonly #settings = new Map<string, TenantSettings>();
  readonly #unsubscribe: () => void;

  private constructor(all: TenantSettings[], bus: EventBus) {
    for (const settings of all) this.#settings.set(settings.tenant, settings);
    this.#unsubscribe = bus.on('tenant.settings', ({ settings }) => this.#settings.set(settings.tenant, settings));
  }

  static async load(store: TenantSettingsStore, bus: EventBus): Promise<TenantSettingsTable> {
    return new TenantSettingsTable(await store.all(), bus);
  }

  get(tenant: string): TenantSettings {
    return this.#settings.get(tenant) ?? defaultTenantSettings(tenant);
  }

  close(): void {
    this.#unsubscribe();
  }
}
