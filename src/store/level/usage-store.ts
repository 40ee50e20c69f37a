import type { KeyUsage } from '../../auth/types.js';
import { decodeJson } from './codec.js';
import type { Db } from './db.js';
import { usageKey } from './keys.js';
import type { UsageStore } from '../store.js';

/** A key's usage counters under `u!<id>`, as JSON. */
export class LevelUsageStore implements UsageStore {
  constructor(private readonly db: Db) {}

  async get(keyId: string): Promise<KeyUsage | undefined> {
    const bytes = await this.db.get(usageKey(keyId));
    return bytes ? decodeJson<KeyUsage>(bytes) : undefined;
  }
}
