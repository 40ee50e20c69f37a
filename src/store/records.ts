import type { ImportedVersion, ModuleContent, ModuleRecord, VersionRecord, VersionSummary } from './types.js';

/**
 * Builds every module record and version record the store writes, so the two shapes have one
 * source: each builder lists the fields, so nothing rides along from a source record or old JSON,
 * and `files` is absent, not null or undefined, when a version has none (old records read the same).
 */

/** What a version takes from its source (an upload, the current version, or an old one). */
export type VersionContent = Pick<VersionRecord, 'name' | 'sha256' | 'size' | 'exports' | 'memory' | 'kind' | 'files'>;

/** The version fields of an upload, named `name`. */
export function uploadContent(content: ModuleContent, name: string): VersionContent {
  const version: VersionContent = {
    name,
    sha256: content.sha256,
    size: content.content.byteLength,
    exports: content.exports,
    memory: content.memory,
    kind: content.kind ?? 'functions',
  };
  if (content.files !== undefined) version.files = content.files.summary;
  return version;
}

/** The content of an existing record or version, under `name` (a rename keeps the content). */
export function contentOf(source: VersionContent, name: string = source.name): VersionContent {
  const content: VersionContent = {
    name,
    sha256: source.sha256,
    size: source.size,
    exports: source.exports,
    memory: source.memory,
    kind: source.kind,
  };
  if (source.files !== undefined) content.files = source.files;
  return content;
}

/** A module record at `version` holding `content`. */
export function moduleRecord(id: string, tenant: string, version: number, content: VersionContent, createdAt: string, updatedAt: string): ModuleRecord {
  const record: ModuleRecord = {
    id,
    tenant,
    name: content.name,
    version,
    sha256: content.sha256,
    size: content.size,
    exports: content.exports,
    memory: content.memory,
    kind: content.kind,
    created_at: createdAt,
    updated_at: updatedAt,
  };
  if (content.files !== undefined) record.files = content.files;
  return record;
}

/** Version `version` of module `id` holding `content`, written at `createdAt`. */
export function versionRecord(id: string, version: number, content: VersionContent, createdAt: string): VersionRecord {
  const record: VersionRecord = {
    id,
    version,
    name: content.name,
    sha256: content.sha256,
    size: content.size,
    exports: content.exports,
    memory: content.memory,
    kind: content.kind,
    created_at: createdAt,
  };
  if (content.files !== undefined) record.files = content.files;
  return record;
}

/** The version record a module record stands for. */
export function versionOf(record: ModuleRecord): VersionRecord {
  // A version is made when the module record carrying it is written.
  return versionRecord(record.id, record.version, record, record.updated_at);
}

/** A version as `GET /modules/{id}/versions` lists it. */
export function versionSummary(record: VersionRecord): VersionSummary {
  const { version, sha256, size, created_at, name, files } = record;
  return files === undefined ? { version, sha256, size, created_at, name } : { version, sha256, size, created_at, name, files };
}

/** The record of one imported version of module `id`, with the time the source node recorded. */
export function importedVersionRecord(id: string, version: ImportedVersion): VersionRecord {
  return versionRecord(id, version.version, uploadContent(version.content, version.name), version.created_at);
}

/** An imported module's record: its last version's content under the module's own name and times. */
export function importedModuleRecord(
  module: Pick<ModuleRecord, 'id' | 'tenant' | 'name' | 'created_at' | 'updated_at'>,
  last: ImportedVersion,
): ModuleRecord {
  return moduleRecord(module.id, module.tenant, last.version, uploadContent(last.content, module.name), module.created_at, module.updated_at);
}
