import type { Db } from './db.js';
import { AUTH_SECRET_KEY } from './keys.js';
import type { ModuleWriter, SettingsStore } from '../store.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Settings as `meta!` keys; written through the writer, so they are durable like any change. */
export class LevelSettingsStore implements SettingsStore {
  constructor(
    private readonly db: Db,
    private readonly writer: ModuleWriter,
  ) {}

  async serverSecret(): Promise<string | undefined> {
    const stored = await this.db.get(AUTH_SECRET_KEY);
    return stored ? decoder.decode(stored) : undefined;
  }

  /** One process owns a LevelDB directory, so nothing can have stored another secret meanwhile. */
  async putServerSecret(secret: string): Promise<string> {
    await this.writer.submit({ kind: 'put-meta', key: AUTH_SECRET_KEY, value: encoder.encode(secret) });
    return secret;
  }
}
