import { inspectBlob } from './blobs.js';
import { decodeRecord, decodeVersion } from './codec.js';
import type { DbReader } from './db.js';
import { moduleKey, moduleRange, prefixRange, tenantModulePrefix, versionKey, versionPrefix } from './keys.js';
import { tenantBytes } from './quota.js';
import type { RecordSource } from '../reader.js';
import type { Inspected, ModuleRecord, VersionRecord } from '../types.js';

/** The reader's reads over the LevelDB key layout (keys.ts): `m!`, `v!`, the `t!` index, blobs and `tb!`. */
export class LevelRecordSource implements RecordSource {
  constructor(private readonly db: DbReader) {}

  async module(id: string): Promise<ModuleRecord | undefined> {
    const bytes = await this.db.get(moduleKey(id));
    return bytes === undefined ? undefined : decodeRecord(bytes);
  }

  async version(id: string, version: number): Promise<VersionRecord | undefined> {
    const bytes = await this.db.get(versionKey(id, version));
    return bytes === undefined ? undefined : decodeVersion(bytes);
  }

  /** Versions keys are zero-padded, so a reverse scan of `v!<id>!` is newest first. */
  async versionsPage(id: string, page: { limit: number; beforeVersion: number | undefined }): Promise<VersionRecord[]> {
    const range = prefixRange(versionPrefix(id));
    const lt = page.beforeVersion === undefined ? range.lt : versionKey(id, page.beforeVersion);
    const out: VersionRecord[] = [];
    for await (const [, value] of this.db.entries({ gt: range.gt, lt, reverse: true, limit: page.limit })) out.push(decodeVersion(value));
    return out;
  }

  async modulesPage(page: { limit: number; after: string | undefined; tenant: string | undefined; only: ReadonlySet<string> | undefined }): Promise<ModuleRecord[]> {
    const out: ModuleRecord[] = [];
    if (page.limit < 1) return out;
    // Unfiltered, the page is exactly the next `limit` records, so the read stops there.
    const limit = page.only === undefined ? page.limit : undefined;
    for await (const record of this.#modulesAfter(page.after, page.tenant, limit)) {
      if (page.only && !page.only.has(record.id)) continue;
      out.push(record);
      if (out.length === page.limit) break;
    }
    return out;
  }

  /**
   * Module records in id order after `after`: all of them (at most `limit`), or one tenant's through
   * its index (read without a limit: a record deleted since its index entry was read is skipped).
   */
  async *#modulesAfter(after: string | undefined, tenant: string | undefined, limit: number | undefined): AsyncIterable<ModuleRecord> {
    if (tenant === undefined) {
      const range = moduleRange();
      const gt = after === undefined ? range.gt : moduleKey(after);
      for await (const [, value] of this.db.entries({ ...range, gt, limit })) yield decodeRecord(value);
      return;
    }
    const prefix = tenantModulePrefix(tenant);
    const range = prefixRange(prefix);
    const gt = after === undefined ? range.gt : prefix + after;
    for await (const key of this.db.keys({ ...range, gt })) {
      // The index and the record are written in one batch; a record missing here was deleted since.
      const record = await this.module(key.slice(prefix.length));
      if (record) yield record;
    }
  }

  blob(sha256: string): Promise<Inspected> {
    return inspectBlob(this.db, sha256);
  }

  tenantBytes(tenant: string): Promise<number> {
    return tenantBytes(this.db, tenant);
  }
}
