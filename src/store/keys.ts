/**
 * The LevelDB key layout, in one place. Keys are UTF-8 strings; `!` separates parts and sorts
 * below every character an id or a hash uses, so each prefix is one contiguous key range.
 *
 *   meta!schema                    → schema version, ASCII decimal ("1"); written at first open
 *   m!<id>                         → ModuleRecord JSON of the module's current version
 *   b!<sha256>                     → the wasm bytes, stored once per content hash
 *   r!<sha256>!<id>                → empty; "the current version of <id> uses blob <sha256>"
 *   v!<id>!<version, 10 digits>    → reserved for module history (past ModuleRecords), not written yet
 *
 * A blob is live while ANY key starts with `r!<sha256>!`. That prefix rule is what lets history
 * be added without rewriting keys: a kept past version would add `r!<sha256>!<id>!<version>`
 * beside the existing refs, and the "last reference gone → delete the blob" check stays as it is.
 * `<sha256>` is always 64 lowercase hex characters, so `r!` keys parse without ambiguity.
 */

/** The layout version this code reads and writes; bump it with a migration when keys change. */
export const SCHEMA_VERSION = 1;

export const SCHEMA_KEY = 'meta!schema';

const MODULE_PREFIX = 'm!';
const BLOB_PREFIX = 'b!';
const REF_PREFIX = 'r!';
const VERSION_PREFIX = 'v!';

/** Width of zero-padded version numbers, so that versions sort numerically as strings. */
const VERSION_DIGITS = 10;

/** Key of a module's current record. */
export function moduleKey(id: string): string {
  return MODULE_PREFIX + id;
}

/** Key of the content bytes with this hash. */
export function blobKey(sha256: string): string {
  return BLOB_PREFIX + sha256;
}

/** Key saying that module `id` references blob `sha256`. */
export function refKey(sha256: string, id: string): string {
  return `${REF_PREFIX}${sha256}!${id}`;
}

/** Prefix shared by every reference to blob `sha256` (of any kind, present or future). */
export function refPrefix(sha256: string): string {
  return `${REF_PREFIX}${sha256}!`;
}

/** Key of a past version of a module; reserved for history, nothing writes it yet. */
export function versionKey(id: string, version: number): string {
  return `${VERSION_PREFIX}${id}!${String(version).padStart(VERSION_DIGITS, '0')}`;
}

/** The key range of every module record, in id order. */
export function moduleRange(): { gt: string; lt: string } {
  return prefixRange(MODULE_PREFIX);
}

/** Range bounds `{gt, lt}` covering exactly the keys that start with `prefix`. */
export function prefixRange(prefix: string): { gt: string; lt: string } {
  // UTF-8 byte order is code point order, so bumping the last code unit bounds the prefix.
  const last = prefix.charCodeAt(prefix.length - 1);
  return { gt: prefix, lt: prefix.slice(0, -1) + String.fromCharCode(last + 1) };
}

/** True when `id` can be used in keys: non-empty and free of the separator. */
export function isKeySafeId(id: string): boolean {
  return id.length > 0 && !id.includes('!');
}
