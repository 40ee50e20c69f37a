import type pg from 'pg';
import type { SettingsStore } from '../store.js';

/** The generated HMAC secret's row in wess_settings. */
export const SERVER_SECRET_SETTING = 'auth_secret';

/** Server-wide settings in wess_settings; each statement commits on its own (autocommit). */
export class PgSettingsStore implements SettingsStore {
  constructor(private readonly pool: pg.Pool) {}

  async serverSecret(): Promise<string | undefined> {
    const res = await this.pool.query<{ value: string }>('SELECT value FROM wess_settings WHERE name = $1', [SERVER_SECRET_SETTING]);
    return res.rows[0]?.value;
  }

  /**
   * Inserts `secret` unless a secret is stored, and resolves with the stored one: when nodes starting
   * together each generate one, the first insert wins and every node goes on with that one, so a
   * key hashed on one node verifies on all.
   */
  async putServerSecret(secret: string): Promise<string> {
    await this.pool.query('INSERT INTO wess_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [SERVER_SECRET_SETTING, secret]);
    const stored = await this.serverSecret();
    if (stored === undefined) throw new Error('the server secret was stored, then not found');
    return stored;
  }
}
