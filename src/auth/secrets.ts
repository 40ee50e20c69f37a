import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `wess_<id>_<secret>`. The id is public: it names the key in URLs, logs and
 * the audit log. The secret is shown once, at creation; the store keeps only
 * HMAC-SHA256(server secret, "<id>.<secret>"), so a stolen database does not yield working keys
 * without the server secret, and the id binds the hash to its key.
 */

const PREFIX = 'wess_';
const ID_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const ID_LENGTH = 12;
const SECRET_BYTES = 32;
/** `wess_<id>_<secret>`: id 4-32 of [0-9a-z] (generated ones have 12), secret 20-128 of base64url. */
export const KEY_FORMAT = /^wess_([0-9a-z]{4,32})_([A-Za-z0-9_-]{20,128})$/;
/**
 * Anything shaped like a key inside other text (a URL, a header, a message), for redaction: either
 * underscore may be URL-encoded (%5F), the secret may hold %XX escapes and is matched however long.
 * Group 1 is the id, which is public.
 */
export const KEY_IN_TEXT = /wess(?:_|%5[Ff])([0-9a-z]{4,32})(?:_|%5[Ff])(?:[A-Za-z0-9_-]|%[0-9A-Fa-f]{2}){20,}/g;

export interface ParsedKey {
  id: string;
  secret: string;
}

/** A new random key: 12-character id (62 bits), 256-bit secret. */
export function generateKey(): { id: string; secret: string; key: string } {
  let id = '';
  for (let i = 0; i < ID_LENGTH; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { id, secret, key: `${PREFIX}${id}_${secret}` };
}

/** The id and secret of a presented key, or undefined when it is not in the key format. */
export function parseKey(presented: string): ParsedKey | undefined {
  const match = KEY_FORMAT.exec(presented);
  if (!match) return undefined;
  return { id: match[1] as string, secret: match[2] as string };
}

/** The stored form of a key's secret. */
export function hashSecret(serverSecret: string, key: ParsedKey): string {
  return createHmac('sha256', serverSecret).update(`${key.id}.${key.secret}`).digest('hex');
}

/** True when `key` hashes to `storedHash`; constant-time in the hash comparison. */
export function secretMatches(serverSecret: string, key: ParsedKey, storedHash: string): boolean {
  const actual = Buffer.from(hashSecret(serverSecret, key), 'hex');
  const expected = Buffer.from(storedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A fresh server secret, for a database whose config gives none. */
export function generateServerSecret(): string {
  return randomBytes(32).toString('base64url');
}
