import type { Config } from '../config/schema.js';
import { openLevelStore } from './level/level-store.js';
import { openPgStore } from './postgres/pg-store.js';

import type { Store, StoreDeps } from './store.js';

export type * from './store.js';
/** What callers outside the store may know of its limits and layout version, and of its data directory. */
export { SCHEMA_VERSION } from './level/keys.js';
export { MAX_VERSION } from './types.js';
export { DbOpenError, PID_FILE, serverPid } from './level/db.js';

/** The store the config names: PostgreSQL when database.url is set, else the embedded LevelDB at database.path. */
export function openStore(config: Config, deps: StoreDeps): Promise<Store> {
  return config.database.url === undefined ? openLevelStore(config, deps) : openPgStore(config, deps);
}
export { redactUrl } from './url.js';
