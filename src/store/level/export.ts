import { wessError } from '../../errors.js';
import type { ModuleRecord, VersionRecord } from '../types.js';
import { EXPORT_END, EXPORT_FORMAT, FORMAT_VERSION, type ExportedModule, type ExportedVersion } from '../transfer.js';
import { inspectBlob } from './blobs.js';
import { decodeRecord, decodeVersion } from './codec.js';
import type { Db, DbReader } from './db.js';
import { moduleRange, prefixRange, versionPrefix } from './keys.js';

/* The export (../transfer.ts has its format) as LevelDB reads it: every line from one snapshot. */

/**
 * The export's lines, all read from one snapshot: the export is the store as it was when it began,
 * whatever is written while it streams. The snapshot is released when the lines end or are abandoned.
 */
export async function* exportLines(db: Db, options: { tenant?: string; modulesEstimate: number }, onModule?: (count: number) => void): AsyncGenerator<string> {
  const snapshot = db.snapshot();
  try {
    const header = { format: EXPORT_FORMAT, version: FORMAT_VERSION, exported_at: new Date().toISOString(), tenant: options.tenant ?? null, modules_estimate: options.modulesEstimate };
    yield `${JSON.stringify(header)}\n`;
    let modules = 0;
    for await (const [, value] of snapshot.entries(moduleRange())) {
      const record = decodeRecord(value);
      if (options.tenant !== undefined && record.tenant !== options.tenant) continue;
      const exported = await exportModule(snapshot, record);
      modules++;
      onModule?.(modules);
      yield `${JSON.stringify(exported)}\n`;
    }
    yield `${JSON.stringify({ format: EXPORT_END, modules })}\n`;
  } finally {
    await snapshot.close();
  }
}

async function exportModule(db: DbReader, record: ModuleRecord): Promise<ExportedModule> {
  const versions: ExportedVersion[] = [];
  for await (const [, value] of db.entries(prefixRange(versionPrefix(record.id)))) {
    const version = decodeVersion(value);
    const content = await readWhole(db, record, version, version.sha256);
    const { name, sha256, size, created_at } = version;
    const exported: ExportedVersion = { version: version.version, name, sha256, size, created_at, content: Buffer.from(content).toString('base64') };
    if (version.files !== undefined) {
      const image = await readWhole(db, record, version, version.files.sha256);
      exported.files = { ...version.files, image: Buffer.from(image).toString('base64') };
    }
    versions.push(exported);
  }
  const { id, tenant, name, version, created_at, updated_at } = record;
  return { id, tenant, name, version, created_at, updated_at, versions };
}

/** A blob of a version, whole, or CONTENT_CORRUPT naming the module and version: an export never carries damage. */
async function readWhole(db: DbReader, record: ModuleRecord, version: VersionRecord, sha256: string): Promise<Uint8Array> {
  const content = await inspectBlob(db, sha256);
  if (content.ok) return content.bytes;
  const what = sha256 === version.sha256 ? '' : 'files: ';
  throw wessError('CONTENT_CORRUPT', `module ${record.id} version ${version.version}: ${what}${content.message}`, { module_id: record.id, version: version.version, sha256 });
}
