import { createHash } from 'node:crypto';

/** Lowercase hex sha256 of `bytes`, the form used in keys and records. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * sha256Hex of upload content, remembered per byte array: admission hashes an upload and the writer
 * checks the same bytes against that hash before storing a new blob, and hashing 100 KiB twice was
 * ~9% of the main thread under 32 concurrent uploads (bench/profile.ts upload). Keyed by the array
 * object, so a hash that does not belong to these bytes (a caller's bug) is still caught; only a
 * change to the bytes themselves after hashing would not be, and upload bytes are never written to.
 * Bytes read back from the store (inspectBlob) are a fresh array per read, so damage on disk is
 * always hashed anew.
 */
export function contentSha256(bytes: Uint8Array): string {
  let hex = hashed.get(bytes);
  if (hex === undefined) {
    hex = sha256Hex(bytes);
    hashed.set(bytes, hex);
  }
  return hex;
}

const hashed = new WeakMap<Uint8Array, string>();
