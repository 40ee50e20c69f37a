import { validate as isUuid, version as uuidVersion } from 'uuid';
import { z } from 'zod';
import { TENANT_FORMAT } from '../auth/types.js';
import { describeIssues } from '../echo.js';
import { hasErrorCode, wessError } from '../errors.js';
import { isStandardBase64 } from '../base64.js';
import { sha256Hex } from '../hash.js';
import { splitLines } from './lines.js';
import { MAX_VERSION, type FilesContent, type FilesSummary, type ImportedVersion, type ModuleContent, type TenantQuota, type WriteMessage, type WriteResult } from './types.js';
import { admitImage } from '../files/archive.js';
import type { AuditStore, KeyStore, ModuleStore } from './store.js';
import { auditLines, authLineKind, AuthLineImporter, keyLines, type AuthImportCounts, type AuthImportDeps } from './transfer-auth.js';

/**
 * Export and import as NDJSON, for moving modules between nodes or stores, or a whole deployment:
 *
 *   {"format":"wess-export","version":1,"exported_at":…,"tenant":null,"modules_estimate":N}
 *   {"id","tenant","name","version","created_at","updated_at","versions":[{"version","name","sha256","size","created_at","content":base64,"files"?},…]}
 *   …one line per module…
 *   {"format":"wess-export-end","modules":N}
 *
 * A version with files carries them as `"files":{"sha256","count","bytes","size","image":base64}`: the
 * stored files image (src/files/image.ts) itself, which the importing node checks against its hash
 * and its own limits. A version without files has no `files` key, so an export made before files
 * existed imports as it always did (an older Wess refuses only the lines that carry files).
 *
 * That (version 1) carries only modules, and an import re-admits every version, so the receiving
 * node's limits apply. A whole-deployment export (admin, no tenant) is version 2, a superset: its
 * header adds `"keys":K` and `"secret_check"` (transfer-auth.ts), the module lines are followed by
 * `{"key":…}` and `{"audit":…}` lines, and the end line counts all three:
 *
 *   {"format":"wess-export","version":2,"exported_at":…,"tenant":null,"modules_estimate":N,"keys":K,"secret_check":"…16 hex…"}
 *   …module lines…, …key lines…, …audit lines (newest first)…
 *   {"format":"wess-export-end","modules":N,"keys":K,"audit":A}
 *
 * Usage counters, the server secret and settings never travel. This Wess reads both versions.
 */

export const EXPORT_FORMAT = 'wess-export';
export const EXPORT_END = 'wess-export-end';
/** Modules only (one tenant's, or every tenant's): still version 1, so an older Wess reads it. */
export const FORMAT_VERSION = 1;
/** The whole deployment: modules, keys and the audit log. */
export const WHOLE_FORMAT_VERSION = 2;

export interface ExportedVersion {
  version: number;
  name: string;
  sha256: string;
  size: number;
  created_at: string;
  content: string;
  files?: ExportedFiles;
}

/** A version's files in an export: its summary and the files image, base64. */
export interface ExportedFiles extends FilesSummary {
  image: string;
}

export interface ExportedModule {
  id: string;
  tenant: string;
  name: string;
  version: number;
  created_at: string;
  updated_at: string;
  versions: ExportedVersion[];
}

export interface ExportOptions {
  /** Only this tenant's modules (format version 1). */
  tenant?: string | undefined;
  /** Modules the header announces, for progress bars. */
  modulesEstimate: number;
  /** The whole deployment (format version 2): keys and audit after the modules; never with a tenant. */
  whole?: { secretCheck: string } | undefined;
}

/** How the end line JSON.stringify writes begins: told apart without parsing a (large) module line. */
const END_LINE_START = `{"format":"${EXPORT_END}"`;

/** What an export reads: the engine's module export, and for a whole export the keys and audit log. */
export interface ExportSources {
  modules: Pick<ModuleStore, 'exportLines'>;
  keys: KeyStore;
  audit: AuditStore;
}

/**
 * An export's lines. The engine writes a modules export (format 1: header, module lines from one
 * consistent view of the store, end line); a whole export is that with its header made version 2
 * (the key count, the secret check) and the key and audit lines spliced in before a new end line
 * that counts them. Keys are read before the header (it counts them), the audit log after the modules.
 */
export async function* exportLines(store: ExportSources, options: ExportOptions): AsyncGenerator<string> {
  const whole = options.whole;
  const lines = store.modules.exportLines({ tenant: options.tenant, modulesEstimate: options.modulesEstimate });
  if (whole === undefined) {
    yield* lines;
    return;
  }
  if (options.tenant !== undefined) throw wessError('VALIDATION', "a whole-deployment export has no tenant: a tenant's export holds its modules only");
  const keys = await store.keys.all();
  let first = true;
  for await (const line of lines) {
    if (first) {
      first = false;
      // The engine's header is one short line; every field it has stays, in its place.
      const header = JSON.parse(line) as Record<string, unknown>;
      yield `${JSON.stringify({ ...header, version: WHOLE_FORMAT_VERSION, keys: keys.length, secret_check: whole.secretCheck })}\n`;
    } else if (line.startsWith(END_LINE_START)) {
      const { modules } = JSON.parse(line) as { modules: number };
      yield* keyLines(keys);
      let audit = 0;
      yield* auditLines(store.audit, () => audit++);
      yield `${JSON.stringify({ format: EXPORT_END, modules, keys: keys.length, audit })}\n`;
    } else {
      yield line;
    }
  }
}

const base64 = z.string().refine(isStandardBase64, 'must be standard base64');
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const name = z.string().min(1).max(200).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');
const versionNumber = z.number().int().min(1).max(MAX_VERSION);
const time = z.iso.datetime();

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
const count = z.number().int().min(0);

const exportedFiles = z
  .object({ sha256: hex64, count, bytes: count, size: count, image: base64 })
  .strict();

const exportedVersion = z
  .object({
    version: versionNumber,
    name,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters'),
    size: z.number().int().min(0),
    created_at: time,
    content: base64,
    files: exportedFiles.optional(),
  })
  .strict();

const exportedModule = z
  .object({
    id: z.string().refine((id) => isUuid(id) && uuidVersion(id) === 4, 'must be a UUID v4'),
    tenant: z.string().regex(TENANT_FORMAT, 'must be a tenant name'),
    name,
    version: versionNumber,
    created_at: time,
    updated_at: time,
    versions: z.array(exportedVersion).min(1, 'must hold at least the current version'),
  })
  .strict()
  .refine((m) => m.versions.every((v, i) => i === 0 || v.version > (m.versions[i - 1] as ExportedVersion).version), 'versions must be in increasing order')
  .refine((m) => m.versions[m.versions.length - 1]?.version === m.version, 'the last version must be the current one');

export interface ImportDeps extends AuthImportDeps {
  submit(msg: Extract<WriteMessage, { kind: 'import-module' }>): Promise<WriteResult['import-module']>;
  /** True when a module with this id exists (it is skipped before any admission work). */
  exists(id: string): Promise<boolean>;
  /** Upload admission with this node's limits for `tenant`: throws the coded error an upload would get. */
  admit(bytes: Uint8Array, tenant: string): Promise<ModuleContent>;
  /** A version's files image checked under this node's limits for `tenant` (archive.ts admitImage); no limits when absent. */
  admitFiles?(image: Uint8Array, tenant: string): FilesContent;
  /** The quotas (max_modules, max_storage) the writer checks a module of `tenant` against; none when absent. */
  quota?(tenant: string): TenantQuota | undefined;
  /** A longer line is refused without being held in memory. */
  maxLineBytes: number;
  onProgress?(done: number): void;
}

export interface LineFailure {
  line: number;
  id?: string;
  code: string;
  error: string;
}

/** `imported` and `skipped` count modules; an import of a whole-deployment export also counts keys and audit entries. */
export interface ImportSummary extends Partial<AuthImportCounts> {
  imported: number;
  skipped: number;
  /** The first MAX_FAILURES failures; `failed_count` has them all. */
  failed: LineFailure[];
  failed_count: number;
}

const MAX_FAILURES = 1000;
/** Lines admitted at once: enough for the writer to group their commits, few enough to bound memory. */
const CONCURRENCY = 8;
/** ...and no more than this much of their text at once. */
const IN_FLIGHT_BYTES = 64 * 1024 * 1024;

/**
 * Imports an export from `source`, line by line, never holding more than CONCURRENCY lines. A bad
 * line is reported with its number and costs nothing else. A first line that is not an export
 * header refuses the whole request (VALIDATION): it is not an export at all.
 */
export async function importLines(source: AsyncIterable<Uint8Array>, deps: ImportDeps): Promise<ImportSummary> {
  const summary: ImportSummary = { imported: 0, skipped: 0, failed: [], failed_count: 0 };
  const fail = (failure: LineFailure) => {
    summary.failed_count++;
    if (summary.failed.length < MAX_FAILURES) summary.failed.push(failure);
  };
  const inflight = new Set<Promise<void>>();
  let inflightBytes = 0;
  let auth: AuthLineImporter | undefined;
  let ended = false;
  let lastLine = 0;
  for await (const { line, text } of splitLines(source, deps.maxLineBytes)) {
    lastLine = line;
    if (text === undefined) {
      fail({ line, code: 'PAYLOAD_TOO_LARGE', error: `the line is over ${deps.maxLineBytes} bytes` });
      continue;
    }
    if (text.trim() === '') continue;
    if (auth === undefined) {
      const header = checkHeader(text);
      auth = new AuthLineImporter(deps, header.secretCheck, fail);
      if (header.version === WHOLE_FORMAT_VERSION) Object.assign(summary, auth.counts);
      continue;
    }
    if (ended) {
      fail({ line, code: 'VALIDATION', error: 'a line after the end-of-export line' });
      continue;
    }
    if (isEndLine(text)) {
      ended = true;
      continue;
    }
    const size = text.length;
    inflightBytes += size;
    const task = importLine(line, text, deps, auth, summary, fail).finally(() => {
      inflight.delete(task);
      inflightBytes -= size;
    });
    inflight.add(task);
    while (inflight.size >= CONCURRENCY || (inflight.size > 0 && inflightBytes > IN_FLIGHT_BYTES)) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await auth?.flush();
  if (auth === undefined) throw wessError('VALIDATION', 'body: empty; send a Wess export (NDJSON, starting with its header line)');
  if (!ended) fail({ line: lastLine + 1, code: 'VALIDATION', error: 'the export ends without its end line: it was cut off; modules after the last line above were not imported' });
  return summary;
}

/** The header's version and, in a whole-deployment export, the check value of its server secret. */
function checkHeader(text: string): { version: number; secretCheck: string | undefined } {
  let header: { format?: unknown; version?: unknown; secret_check?: unknown } | undefined;
  try {
    header = JSON.parse(text) as typeof header;
  } catch {
    header = undefined;
  }
  if (header?.format !== EXPORT_FORMAT) throw wessError('VALIDATION', `line 1: not a Wess export header (expected {"format":"${EXPORT_FORMAT}",...})`);
  const version = header.version;
  if (version !== FORMAT_VERSION && version !== WHOLE_FORMAT_VERSION) {
    throw wessError('VALIDATION', `line 1: export format version ${String(version)}; this Wess reads versions ${FORMAT_VERSION} and ${WHOLE_FORMAT_VERSION}`);
  }
  return { version, secretCheck: typeof header.secret_check === 'string' ? header.secret_check : undefined };
}

function isEndLine(text: string): boolean {
  if (!text.includes(EXPORT_END)) return false;
  try {
    return (JSON.parse(text) as { format?: unknown } | null)?.format === EXPORT_END;
  } catch {
    return false;
  }
}

/** One line after the header: a module, a key or an audit entry; every failure is reported against the line, never thrown. */
async function importLine(line: number, text: string, deps: ImportDeps, auth: AuthLineImporter, summary: ImportSummary, fail: (f: LineFailure) => void): Promise<void> {
  let id: string | undefined;
  try {
    const value = parseJson(text);
    const kind = authLineKind(value);
    if (kind === 'key') return await auth.key(line, value);
    if (kind === 'audit') return await auth.audit(line, value);
    const module = parseModule(value);
    id = module.id;
    if (await deps.exists(module.id)) {
      summary.skipped++;
      return;
    }
    const versions: ImportedVersion[] = [];
    for (const version of module.versions) versions.push(await admitVersion(version, module.tenant, deps));
    const { tenant, name, created_at, updated_at } = module;
    const result = await deps.submit({ kind: 'import-module', id: module.id, tenant, name, created_at, updated_at, versions, quota: deps.quota?.(tenant) });
    if (result.imported) summary.imported++;
    else summary.skipped++;
    deps.onProgress?.(summary.imported + summary.skipped);
  } catch (err) {
    const code = hasErrorCode(err) ? err.code : 'INTERNAL';
    const error = hasErrorCode(err) && code !== 'INTERNAL' ? err.message : 'the module could not be imported; see the server log';
    fail(id === undefined ? { line, code, error } : { line, id, code, error });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw wessError('VALIDATION', 'not valid JSON');
  }
}

function parseModule(value: unknown): z.output<typeof exportedModule> {
  const parsed = exportedModule.safeParse(value);
  if (parsed.success) return parsed.data;
  throw wessError('VALIDATION', describeIssues(parsed.error.issues, '', 'line').join('; '));
}

/** A version's files image checked against its declared sha256 and size, then admitted under this node's limits. */
function admitFiles(files: ExportedFiles, tenant: string, deps: ImportDeps): FilesContent {
  const image = Buffer.from(files.image, 'base64');
  const sha256 = sha256Hex(image);
  if (sha256 !== files.sha256) throw wessError('VALIDATION', `files hash to sha256 ${sha256}, not ${files.sha256} as the export says`);
  if (image.length !== files.size) throw wessError('VALIDATION', `files are ${image.length} bytes, not ${files.size} as the export says`);
  const bytes = new Uint8Array(image.buffer, image.byteOffset, image.byteLength);
  return deps.admitFiles ? deps.admitFiles(bytes, tenant) : admitImage(bytes, { maxFilesBytes: Infinity, maxFiles: Infinity });
}

/** Checks a version's bytes against its declared size and sha256, then admits them like an upload. */
async function admitVersion(version: ExportedVersion, tenant: string, deps: ImportDeps): Promise<ImportedVersion> {
  const bytes = Buffer.from(version.content, 'base64');
  const where = `version ${version.version}`;
  const sha256 = sha256Hex(bytes);
  if (sha256 !== version.sha256) throw wessError('VALIDATION', `${where}: content hashes to sha256 ${sha256}, not ${version.sha256} as the export says`);
  if (bytes.length !== version.size) throw wessError('VALIDATION', `${where}: content is ${bytes.length} bytes, not ${version.size} as the export says`);
  try {
    const files = version.files === undefined ? undefined : admitFiles(version.files, tenant, deps);
    const admitted = await deps.admit(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), tenant);
    const content = files === undefined ? admitted : { ...admitted, files };
    return { version: version.version, name: version.name, created_at: version.created_at, content };
  } catch (err) {
    if (hasErrorCode(err) && err.code !== 'INTERNAL') throw wessError(err.code, `${where}: ${err.message}`);
    throw err;
  }
}
