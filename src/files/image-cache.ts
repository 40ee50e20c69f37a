import { LRUCache } from 'lru-cache';
import { wessError } from '../errors.js';
import type { BlobSource } from '../store/store.js';
import type { FilesSummary } from '../store/types.js';
import type { WasiFiles } from '../wasi/types.js';

/** Bytes of files images kept in memory for runs, unless told otherwise. */
export const DEFAULT_IMAGE_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Files images as runs hand them to workers: read from the store once, copied into a
 * SharedArrayBuffer (so posting one to a worker copies nothing, and every worker reads the same
 * memory), and kept by sha256 in an LRU bounded by bytes. An image is immutable: its sha256 names it
 * forever, so an entry is never stale, only evicted.
 */
export class ImageCache {
  readonly #store: BlobSource;
  readonly #images: LRUCache<string, WasiFiles>;
  /** Loads under way, so that a burst of runs of a cold version reads the image once. */
  readonly #loading = new Map<string, Promise<WasiFiles>>();

  constructor(store: BlobSource, maxBytes = DEFAULT_IMAGE_CACHE_BYTES) {
    this.#store = store;
    // An image bigger than the whole cache is still served, just not kept (lru-cache refuses to hold it).
    this.#images = new LRUCache<string, WasiFiles>({ maxSize: maxBytes, sizeCalculation: (files) => Math.max(1, files.image.byteLength) });
  }

  /** The files of a version as a run gets them; CONTENT_CORRUPT when the stored image is missing or damaged. */
  get(files: FilesSummary): WasiFiles | Promise<WasiFiles> {
    const cached = this.#images.get(files.sha256);
    if (cached !== undefined) return cached;
    let loading = this.#loading.get(files.sha256);
    if (loading === undefined) {
      loading = this.#load(files.sha256).finally(() => this.#loading.delete(files.sha256));
      this.#loading.set(files.sha256, loading);
    }
    return loading;
  }

  async #load(sha256: string): Promise<WasiFiles> {
    const inspected = await this.#store.inspectBlob(sha256);
    if (!inspected.ok) throw wessError('CONTENT_CORRUPT', `files: ${inspected.message}`, { sha256 });
    const image = new Uint8Array(new SharedArrayBuffer(inspected.bytes.byteLength));
    image.set(inspected.bytes);
    const files: WasiFiles = { sha256, image };
    this.#images.set(sha256, files);
    return files;
  }
}
