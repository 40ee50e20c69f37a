import { hasErrorCode } from '../../errors.js';
import { looksLikeImage, readImage } from '../../files/image.js';
import { sha256Hex } from '../../hash.js';
import { decodeBlobPointer } from './codec.js';
import type { DbOp } from './db.js';
import { contentIdOfKey, isBlobKey, isContentKey, parseRefKey, sha256OfBlobKey } from './keys.js';

/** Admission of one stored content: resolves, or throws the coded error an upload of it would get. */
export type AdmitStored = (bytes: Uint8Array) => Promise<void>;

interface Refusal {
  code: string;
  message: string;
  /** The first few modules and versions that use the content. */
  users: string[];
}

/** Users named per refused content, and refused contents named in the refusal. */
const MAX_USERS = 3;
const MAX_NAMED = 5;

/**
 * Runs upload admission over the content in an archive as its entries stream by, in key order, so
 * that a restore can refuse modules this Wess would not have taken. Every schema's blobs are seen:
 * `b!` pointers come before the `c!` bytes they name (schema 4 and later), and older schemas keep
 * the bytes under `b!` itself. The `r!` references come after both and name who uses a refused one.
 */
export class ContentAdmission {
  readonly #admit: AdmitStored;
  /** Content id → the hash its pointer files it under. */
  readonly #pointers = new Map<string, string>();
  readonly #refused = new Map<string, Refusal>();
  #admitted = 0;

  constructor(admit: AdmitStored) {
    this.#admit = admit;
  }

  /** Looks at one batch of entries of the archive. */
  async take(ops: readonly DbOp[]): Promise<void> {
    for (const op of ops) {
      if (op.type !== 'put') continue;
      if (isBlobKey(op.key)) {
        const pointer = decodeBlobPointer(op.value);
        if (pointer) this.#pointers.set(pointer.c, sha256OfBlobKey(op.key));
        else await this.#check(sha256OfBlobKey(op.key), op.value);
      } else if (isContentKey(op.key)) {
        const sha256 = this.#pointers.get(contentIdOfKey(op.key));
        if (sha256 !== undefined) await this.#check(sha256, op.value);
      } else {
        this.#noteUser(op.key);
      }
    }
  }

  /** Contents admitted so far. */
  get admitted(): number {
    return this.#admitted;
  }

  /** One line per refused content (the first few), naming its users and why; empty when all were admitted. */
  refusals(): string[] {
    return [...this.#refused].slice(0, MAX_NAMED).map(([sha256, { code, message, users }]) => {
      const who = users.length > 0 ? `module ${users.join(', module ')}` : 'content no module uses';
      return `${who} (sha256 ${sha256.slice(0, 12)}…): ${code}: ${message}`;
    });
  }

  /** Contents refused in all. */
  get refusedCount(): number {
    return this.#refused.size;
  }

  async #check(sha256: string, bytes: Uint8Array): Promise<void> {
    // Bytes that no longer match their hash are damage, which reads refuse (CONTENT_CORRUPT) and
    // `wess doctor` reports: they can never run, so there is nothing to admit.
    if (sha256Hex(bytes) !== sha256) return;
    try {
      // A version's files image is no module: it must only read as an image (the files limits were applied at upload).
      if (looksLikeImage(bytes)) readImage(bytes);
      else await this.#admit(bytes);
      this.#admitted++;
    } catch (err) {
      if (looksLikeImage(bytes) && !hasErrorCode(err)) {
        this.#refused.set(sha256, { code: 'VALIDATION', message: `files image: ${(err as Error).message}`, users: [] });
        return;
      }
      if (!hasErrorCode(err)) throw err;
      this.#refused.set(sha256, { code: err.code, message: err.message, users: [] });
    }
  }

  #noteUser(key: string): void {
    const ref = parseRefKey(key);
    const refusal = ref && this.#refused.get(ref.sha256);
    if (!ref || !refusal || refusal.users.length >= MAX_USERS) return;
    refusal.users.push(ref.version === undefined ? ref.id : `${ref.id} version ${ref.version}`);
  }
}
