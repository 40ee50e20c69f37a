import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { ModuleWriter, SettingsStore } from '../store/store.js';
import type { Keyring } from './keyring.js';
import { generateKey, generateServerSecret, hashSecret, parseKey } from './secrets.js';
import { DEFAULT_TENANT, type KeyRecord } from './types.js';

/**
 * The HMAC secret for key hashes: auth.secret (WESS_AUTH_SECRET) when set, else one generated at
 * the first start and kept in the database. The stored one is convenient, but it sits beside the
 * hashes it protects; production deployments should set their own.
 */
export async function serverSecret(config: Config, settings: SettingsStore, logger: Logger): Promise<string> {
  if (config.auth.secret !== undefined) return config.auth.secret;
  const stored = await settings.serverSecret();
  if (stored !== undefined) return stored;
  const secret = await settings.putServerSecret(generateServerSecret());
  if (config.auth.enabled) {
    logger.warn('auth.secret is not set: generated one and stored it in the database; set WESS_AUTH_SECRET in production');
  }
  return secret;
}

/**
 * WESS_ADMIN_KEY (auth.admin_key), at start: the key is created, or its hash renewed when its
 * secret changed; a key revoked through the API stays revoked.
 */
export async function applyAdminKey(config: Config, keyring: Keyring, writer: ModuleWriter, secret: string, logger: Logger): Promise<void> {
  const configured = config.auth.admin_key;
  if (configured === undefined) return;
  const parsed = parseKey(configured);
  if (!parsed) throw new Error('auth.admin_key is not a wess_<id>_<secret> key'); // the config schema checked it already
  const hash = hashSecret(secret, parsed);
  const existing = keyring.get(parsed.id);
  if (existing?.revoked_at) {
    logger.warn({ key_id: parsed.id }, 'WESS_ADMIN_KEY names a key that was revoked; it stays revoked. Set a new key to regain admin access');
    return;
  }
  if (existing?.hash === hash && existing.role === 'admin') return;
  await writer.submit({ kind: 'put-key', key: adminKey(parsed.id, hash, existing) });
  logger.info({ key_id: parsed.id }, existing ? 'admin key from WESS_ADMIN_KEY updated' : 'admin key from WESS_ADMIN_KEY created');
}

/**
 * The very first start (auth on, no WESS_ADMIN_KEY, no keys at all) creates an admin key and logs
 * it once: the only time it is shown. main.ts calls this only once the server listens, so that a
 * start that fails (a port in use, a bad host) shows no key and leaves none behind; the next start
 * makes one. Resolves once the line is written out.
 */
export async function createFirstAdminKey(config: Config, keyring: Keyring, writer: ModuleWriter, logger: Logger): Promise<void> {
  if (keyring.size > 0 || !config.auth.enabled || config.auth.admin_key !== undefined) return;
  const made = generateKey();
  await writer.submit({ kind: 'put-key', key: adminKey(made.id, hashSecret(keyring.secret, made), undefined) });
  // The one log line that carries a secret, by design: there is no other way to hand over the first key.
  logger.warn(
    { key_id: made.id },
    `first start: created admin key ${made.key} . Use it as "Authorization: Bearer <key>" (or x-api-key). It is not stored and will not be shown again; create other keys with POST /keys`,
  );
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
}

function adminKey(id: string, hash: string, existing: KeyRecord | undefined): KeyRecord {
  return {
    id,
    name: existing?.name ?? 'bootstrap admin',
    role: 'admin',
    tenant: existing?.tenant ?? DEFAULT_TENANT,
    tier: null,
    modules: null,
    hash,
    created_at: existing?.created_at ?? new Date().toISOString(),
    created_by: null,
    revoked_at: null,
  };
}
