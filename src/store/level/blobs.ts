import { v7 as uuidv7 } from 'uuid';
import { hasErrorCode, wessError } from '../../errors.js';
import { contentSha256 } from '../../hash.js';
import { decodeBlobPointer, encodeBlobPointer, type BlobPointer } from './codec.js';
import { blobKey, contentKey } from './keys.js';
import type { Overlay } from './overlay.js';
import type { FilesContent, ModuleContent } from '../types.js';
import type { Inspected } from '../types.js';
import { checkBlob } from '../blob-check.js';

/**
 * Blobs as two keys (keys.ts has why):
 *
 *   b!<sha256>        → {"c":"<content id>","size":N}     one per hash: dedup and liveness stay by hash
 *   c!<content id>    → the bytes                          UUIDv7 ids: new bytes sort after the old
 *
 * Everything that stores, reads or drops blob bytes goes through here, so that following the
 * pointer lives in one place.
 */

/** Point reads: the database, a snapshot of it, or a writer's overlay (which sees its batch's staged keys). */
export interface BlobReader {
  get(key: string): Promise<Uint8Array | undefined>;
}

/** A fresh content id: time-ordered, so a batch of uploads appends to the end of the `c!` range. */
export function newContentId(): string {
  return uuidv7();
}

/** The two puts that store `bytes` as a new blob with this hash. */
export function blobPuts(sha256: string, bytes: Uint8Array): Array<{ key: string; value: Uint8Array }> {
  const pointer: BlobPointer = { c: newContentId(), size: bytes.byteLength };
  return [
    { key: contentKey(pointer.c), value: bytes },
    { key: blobKey(sha256), value: encodeBlobPointer(pointer) },
  ];
}

/** Stages the blob of a version's files, when it has any: a files image is a blob like any other. */
export async function stageFilesBlob(files: FilesContent | undefined, overlay: Overlay): Promise<void> {
  if (files !== undefined) await stageBlob({ sha256: files.summary.sha256, content: files.image }, overlay);
}

/** Stores the blob unless that hash is already stored (dedup); refuses bytes that do not match their hash. */
export async function stageBlob(content: Pick<ModuleContent, 'sha256' | 'content'>, overlay: Overlay): Promise<void> {
  // The pointer is small, and apply's readsOf prefetches it, so this costs no read of its own.
  if (await overlay.has(blobKey(content.sha256))) {
    // The same content again: dedup onto the stored bytes if they are whole. If they were damaged on
    // disk, this upload repairs them (CONTENT_CORRUPT tells users to upload again). One more read and
    // hash, for dedups only.
    if ((await inspectBlob(overlay, content.sha256)).ok) return;
    await dropBlob(content.sha256, overlay);
  }
  // Checked only for new blobs: a wrong hash here would poison every later upload that dedups onto it.
  if (contentSha256(content.content) !== content.sha256) {
    throw wessError('INTERNAL', `content does not match its sha256 ${content.sha256}`);
  }
  for (const { key, value } of blobPuts(content.sha256, content.content)) overlay.put(key, value);
}


/**
 * The content stored under `sha256`, read and hashed: its bytes, or what is wrong with them. The one
 * check behind the writer's dedup, the reader, export and verification (../verify.ts).
 */
export async function inspectBlob(source: BlobReader, sha256: string): Promise<Inspected> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readBlob(source, sha256);
  } catch (err) {
    // Damage readBlob found (a bad pointer, missing bytes, a block LevelDB cannot read); anything else
    // (a closed database, say) is no verdict on the content and goes up as it is.
    if (!hasErrorCode(err) || err.code !== 'CONTENT_CORRUPT') throw err;
    return { ok: false, problem: 'unreadable', message: err.message };
  }
  return checkBlob(sha256, bytes);
}

/**
 * Stages the removal of a blob whose last reference is gone: its pointer and the bytes it names.
 * The pointer is read through the overlay, so a blob staged earlier in the same batch goes too.
 */
export async function dropBlob(sha256: string, overlay: Overlay): Promise<void> {
  const value = await overlay.get(blobKey(sha256));
  if (value === undefined) return;
  const pointer = decodeBlobPointer(value);
  if (pointer) overlay.del(contentKey(pointer.c));
  overlay.del(blobKey(sha256));
}

/**
 * The bytes stored for `sha256`, or undefined when no blob has that hash. CONTENT_CORRUPT when the
 * pointer is unreadable or names bytes that are missing or of another size. Callers still check the
 * bytes against the hash: they can say what the content belongs to.
 */
export async function readBlob(source: BlobReader, sha256: string): Promise<Uint8Array | undefined> {
  try {
    return await followPointer(source, sha256);
  } catch (err) {
    // A block that fails LevelDB's own checks (a flipped byte in a compressed table block) is damage too.
    if ((err as { code?: unknown }).code === 'LEVEL_CORRUPTION') throw corrupt(sha256, `the database cannot read it (${(err as Error).message})`);
    throw err;
  }
}

async function followPointer(source: BlobReader, sha256: string): Promise<Uint8Array | undefined> {
  let missing: string | undefined;
  // Two reads and no snapshot: a delete landing between them takes both keys. So missing bytes send
  // us back to the pointer once: gone now means deleted meanwhile, a new id means uploaded again.
  for (let attempt = 0; attempt < 2; attempt++) {
    const value = await source.get(blobKey(sha256));
    if (value === undefined) return undefined;
    const pointer = decodeBlobPointer(value);
    if (!pointer) throw corrupt(sha256, `its pointer ${blobKey(sha256)} is unreadable`);
    if (pointer.c === missing) break;
    const bytes = await source.get(contentKey(pointer.c));
    if (bytes !== undefined) {
      if (bytes.byteLength !== pointer.size) throw corrupt(sha256, `it is ${bytes.byteLength} bytes, not ${pointer.size} as its pointer says`);
      return bytes;
    }
    missing = pointer.c;
  }
  throw corrupt(sha256, `the bytes its pointer names (${contentKey(missing ?? '')}) are missing`);
}

function corrupt(sha256: string, why: string): Error {
  return wessError('CONTENT_CORRUPT', `stored content for sha256 ${sha256} is damaged: ${why}`, { sha256 });
}
