import type { KeyRange } from './db.js';

/** The first batch of a read with no limit: most such reads stop early or cover few keys. */
const FIRST_BATCH = 16;
/** classic-level's own batch (its for-await size), which its 16 KiB read-ahead bounds anyway. */
const LAST_BATCH = 1000;
/** Keys past every utf8 key in each direction: a seek there leaves the iterator at its end. */
const PAST_LAST = '\u{10FFFF}';
const BEFORE_FIRST = '';

export type BatchIterator<T> = { nextv(size: number): Promise<T[]>; seek(target: string): void; close(): Promise<void> };

/** Best effort: an iterator that fails here (its database closing) is closed all the same. */
async function dropCopies<T>(iterator: BatchIterator<T>, reverse: boolean): Promise<void> {
  try {
    iterator.seek(reverse ? BEFORE_FIRST : PAST_LAST);
    await iterator.nextv(1);
  } catch {
    // Nothing to drop from an iterator that cannot read.
  }
}

/**
 * Reads an iterator in batches no larger than the read needs, and empties it before closing it.
 *
 * classic-level keeps a copy of an iterator's last batch, and room for as many entries as were
 * asked for (64 B each), in native memory until V8 collects the iterator's handle, and V8 does not
 * know that memory is there, so nothing hurries the collection. Read by for-await, every iterator
 * asked for 1,000 entries after its first (64 KiB) and kept up to 16 KiB of copies: a page of 20
 * modules read 2,700 times a second left hundreds of MiB of malloc'd memory waiting for a major
 * collection, and glibc's arenas kept the peak, so RSS grew for minutes under a steady mix. Here a
 * read asks for no more than it still wants, and a last read after a seek past the end (which
 * classic-level begins by dropping its copies) leaves only that small reservation behind.
 * Not the engine's `limit`: once that is reached the iterator reads nothing more, not even that.
 */
export async function* batches<T>(iterator: BatchIterator<T>, range: KeyRange): AsyncIterable<T> {
  let left = range.limit ?? Infinity;
  let size = Math.min(left, FIRST_BATCH);
  let read = false;
  try {
    while (left > 0) {
      const batch = await iterator.nextv(range.limit === undefined ? size : Math.min(left, LAST_BATCH));
      if (batch.length === 0) return;
      read = true;
      left -= batch.length;
      size = Math.min(size * 4, LAST_BATCH);
      yield* batch;
    }
  } finally {
    if (read) await dropCopies(iterator, range.reverse === true);
    await iterator.close();
  }
}
