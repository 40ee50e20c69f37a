import { wessError } from '../errors.js';
import { EXPORT_END, EXPORT_FORMAT, FORMAT_VERSION, type ExportedModule, type ExportedVersion } from './transfer.js';
import type { Inspected, ModuleRecord, VersionRecord } from './types.js';

/*
 * The export's lines (transfer.ts has the format), built once for every engine: an engine supplies
 * a view of the store as it was when the export began (a LevelDB snapshot, a REPEATABLE READ
 * transaction) and this turns it into NDJSON, so both engines write the same bytes for the same data.
 */

/** What an export reads, all from one consistent view of the store. */
export interface ExportView {
  /** Module records in id order (byte order): every tenant's, or only `tenant`'s. */
  modules(tenant: string | undefined): AsyncIterable<ModuleRecord>;
  /** The versions of module `id`, oldest first. */
  versions(id: string): AsyncIterable<VersionRecord>;
  /** A blob read and hashed (blobs are checked: an export never carries damage). */
  blob(sha256: string): Promise<Inspected>;
}

export interface ExportOptions {
  tenant?: string | undefined;
  modulesEstimate: number;
}

/** The header, one line per module, the end line. The caller opens the view and closes it when these end or are abandoned. */
export async function* exportLinesOf(view: ExportView, options: ExportOptions, onModule?: (count: number) => void): AsyncGenerator<string> {
  const header = { format: EXPORT_FORMAT, version: FORMAT_VERSION, exported_at: new Date().toISOString(), tenant: options.tenant ?? null, modules_estimate: options.modulesEstimate };
  yield `${JSON.stringify(header)}\n`;
  let modules = 0;
  for await (const record of view.modules(options.tenant)) {
    const exported = await exportModule(view, record);
    modules++;
    onModule?.(modules);
    yield `${JSON.stringify(exported)}\n`;
  }
  yield `${JSON.stringify({ format: EXPORT_END, modules })}\n`;
}

async function exportModule(view: ExportView, record: ModuleRecord): Promise<ExportedModule> {
  const versions: ExportedVersion[] = [];
  for await (const version of view.versions(record.id)) {
    const content = await readWhole(view, record, version, version.sha256);
    const { name, sha256, size, created_at } = version;
    const exported: ExportedVersion = { version: version.version, name, sha256, size, created_at, content: Buffer.from(content).toString('base64') };
    if (version.files !== undefined) {
      const image = await readWhole(view, record, version, version.files.sha256);
      exported.files = { ...version.files, image: Buffer.from(image).toString('base64') };
    }
    versions.push(exported);
  }
  const { id, tenant, name, version, created_at, updated_at } = record;
  return { id, tenant, name, version, created_at, updated_at, versions };
}

/** A blob of a version, whole, or CONTENT_CORRUPT naming the module and version: an export never carries damage. */
async function readWhole(view: ExportView, record: ModuleRecord, version: VersionRecord, sha256: string): Promise<Uint8Array> {
  const content = await view.blob(sha256);
  if (content.ok) return content.bytes;
  const what = sha256 === version.sha256 ? '' : 'files: ';
  throw wessError('CONTENT_CORRUPT', `module ${record.id} version ${version.version}: ${what}${content.message}`, { module_id: record.id, version: version.version, sha256 });
}
