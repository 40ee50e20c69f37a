import type { KeyRecord } from '../../auth/types.js';
import { decodeJson } from './codec.js';
import type { Db } from './db.js';
import { apiKeyKey, apiKeyRange } from './keys.js';
import type { KeyStore } from '../store.js';

/** API key records under `k!<id>`, as JSON. */
export class LevelKeyStore implements KeyStore {
  constructor(private readonly db: Db) {}

  async all(): Promise<KeyRecord[]> {
    const keys: KeyRecord[] = [];
    for await (const [, value] of this.db.entries(apiKeyRange())) keys.push(decodeJson<KeyRecord>(value));
    return keys;
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    const value = await this.db.get(apiKeyKey(id));
    return value === undefined ? undefined : decodeJson<KeyRecord>(value);
  }
}
