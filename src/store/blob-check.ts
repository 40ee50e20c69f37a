import { contentSha256 } from '../hash.js';
import type { Inspected } from './types.js';

/**
 * The verdict on the bytes an engine read for `sha256` (undefined: none stored), in the words every
 * engine reports: missing, or bytes that no longer match their hash. Damage an engine finds before
 * it has bytes (an unreadable pointer, a block it cannot read) is its own to report as 'unreadable'.
 */
export function checkBlob(sha256: string, bytes: Uint8Array | undefined): Inspected {
  if (!bytes) return { ok: false, problem: 'missing', message: `content ${sha256} is missing from the store` };
  // contentSha256: bytes staged earlier in the same batch were hashed at admission already.
  const actual = contentSha256(bytes);
  if (actual !== sha256) return { ok: false, problem: 'damaged', message: `content ${sha256} no longer matches its hash (it hashes to ${actual})` };
  return { ok: true, bytes };
}
