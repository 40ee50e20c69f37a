import { exportLinesOf, type ExportOptions, type ExportView } from '../export.js';
import { inspectBlob } from './blobs.js';
import { decodeRecord, decodeVersion } from './codec.js';
import type { Db, DbReader } from './db.js';
import { moduleRange, prefixRange, versionPrefix } from './keys.js';

/* The export (../export.ts builds its lines) as LevelDB reads it: every line from one snapshot. */

/**
 * The export's lines, all read from one snapshot: the export is the store as it was when it began,
 * whatever is written while it streams. The snapshot is released when the lines end or are abandoned.
 */
export async function* exportLines(db: Db, options: ExportOptions, onModule?: (count: number) => void): AsyncGenerator<string> {
  const snapshot = db.snapshot();
  try {
    yield* exportLinesOf(snapshotView(snapshot), options, onModule);
  } finally {
    await snapshot.close();
  }
}

function snapshotView(snapshot: DbReader): ExportView {
  return {
    async *modules(tenant) {
      // The whole `m!` range, not the tenant index: one pass in id order either way.
      for await (const [, value] of snapshot.entries(moduleRange())) {
        const record = decodeRecord(value);
        if (tenant === undefined || record.tenant === tenant) yield record;
      }
    },
    async *versions(id) {
      for await (const [, value] of snapshot.entries(prefixRange(versionPrefix(id)))) yield decodeVersion(value);
    },
    blob: (sha256) => inspectBlob(snapshot, sha256),
  };
}
