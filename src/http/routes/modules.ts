import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { v4 as uuidv4 } from 'uuid';
import { authorize, checkModuleAccess, tenantGuard, tenantScope, tierSuffix, type Action, type EffectiveLimits } from '../../auth/policy.js';
import type { Principal } from '../../auth/types.js';
import { wessError, type ErrorCode } from '../../errors.js';
import { admitModule } from '../../modules/admission.js';
import type { ModuleRecord } from '../../store/types.js';
import { looksLikeWat, watToWasm } from '../../wasm/text.js';
import { audited } from '../plugins/audit.js';
import { capUploadBody, mediaType, uploadJsonLimit, WASM_TYPES } from '../body-limits.js';
import { packBase64Archive } from '../../files/archive.js';
import type { FilesContent, ModuleContent } from '../../store/types.js';
import { describeRoute, ref } from '../openapi.js';
import { createJsonBody, createQuery, etag, forceQuery, idParams, parseIfMatch, parseWith, rawUpdateQuery, rawUploadQuery, tenantListQuery, updateJsonBody } from '../schemas.js';
import type { Services } from '../../services.js';
import { limitsInTenant, quotaOf } from '../tenant-limits.js';

/** WebAssembly text; compiled to the binary, which is what is stored. */
const WAT_TYPE = 'text/wat';

const TAGS = ['modules'];
/** A raw upload's body, for the document. */
const WASM_BODY = { type: 'string', format: 'binary', description: 'The module binary; name it with ?name=' };
/** A text upload's body, for the document. */
const WAT_BODY = { type: 'string', description: 'The module in WebAssembly text format; name it with ?name=. It is compiled, and the binary is stored (not the text)' };
/** What admission can refuse in an upload (modules/admission.ts). */
const ADMISSION_ERRORS = ['VALIDATION', 'INVALID_WASM', 'FORBIDDEN_IMPORT', 'MEMORY_LIMIT', 'PAYLOAD_TOO_LARGE'] as const satisfies readonly ErrorCode[];
const IF_MATCH = {
  type: 'object',
  properties: { 'if-match': { type: 'string', description: 'The version the change expects to be current, as "3" (weak W/"3" and bare 3 work too; * means any)' } },
};
const MODULE_HEADERS = { etag: 'The version, quoted: "3"' };
const WASM_BYTES = { type: 'string', format: 'binary' };
/** A module named by the path: a malformed id, none (or another tenant's), or one outside a scoped key's list. */
const MODULE_ERRORS = ['VALIDATION', 'MODULE_NOT_FOUND', 'FORBIDDEN'] as const satisfies readonly ErrorCode[];
const LIST_FIELDS = { limit: 'Page size', cursor: 'next_cursor of the previous page', tenant: 'Admin keys only: one tenant' };
const FORCE_FIELD = "Admin keys only: true skips the target tenant's tier (the admin's own limits apply); audited as forced";
const UPLOAD_FIELDS = {
  name: 'The module name; required with an application/wasm body (JSON bodies carry it instead)',
  tenant: "Admin keys only: create the module in this tenant, held to that tenant's tier",
  force: FORCE_FIELD,
};

function isRawWasm(request: FastifyRequest): boolean {
  return Buffer.isBuffer(request.body);
}

/**
 * The module binary of an upload: `bytes` themselves, or compiled from WebAssembly text when they
 * came as text/wat or are text anyway (sent as application/wasm, or base64 in JSON). Called once
 * the key may upload at all, so a refused key costs no compile.
 */
function moduleBinary(request: FastifyRequest, bytes: Uint8Array): Promise<Uint8Array> | Uint8Array {
  return mediaType(request.headers['content-type']) === WAT_TYPE || looksLikeWat(bytes) ? watToWasm(bytes) : bytes;
}

/**
 * The JSON of a module record (what Fastify's serializer would send), made once per record: a record
 * is never changed in place (a change caches a new one), and a cached record is read on every GET.
 */
const recordJson = new WeakMap<ModuleRecord, string>();

/** Answers a module's metadata with its etag. */
function sendRecord(reply: FastifyReply, record: ModuleRecord): FastifyReply {
  let json = recordJson.get(record);
  if (json === undefined) recordJson.set(record, (json = JSON.stringify(record)));
  return reply.header('etag', etag(record.version)).type('application/json; charset=utf-8').send(json);
}

/**
 * Looks up the module a request names, once its key may do `action`: MODULE_NOT_FOUND when there
 * is none or it is another tenant's, FORBIDDEN when a scoped key does not list it.
 */
export function findModule(services: Services, request: FastifyRequest, action: Action): Promise<ModuleRecord> | ModuleRecord {
  const principal = authorize(request.principal, action);
  const { id } = parseWith(idParams, request.params, 'path');
  request.moduleId = id;
  return visibleModule(services, principal, id);
}

/**
 * Module `id` if `principal` may see it: MODULE_NOT_FOUND when missing or another tenant's, FORBIDDEN outside a key's scope.
 * A cached record is checked and returned synchronously (no promise per request on the hot /run path); callers
 * `await` either way, and run in async handlers, so a synchronous throw reaches them as a rejection would.
 */
export function visibleModule(services: Services, principal: Principal, id: string): Promise<ModuleRecord> | ModuleRecord {
  const cached = services.store.reader.cachedModule(id);
  if (cached) return accessible(principal, cached);
  return services.store.reader.getModule(id).then((record) => {
    if (!record) throw wessError('MODULE_NOT_FOUND', `no module with id ${id}`);
    return accessible(principal, record);
  });
}

function accessible(principal: Principal, record: ModuleRecord): ModuleRecord {
  checkModuleAccess(principal, record);
  return record;
}


function decodeBase64(content: string, limits: EffectiveLimits): Uint8Array {
  // 4 base64 characters carry 3 bytes: refuse before decoding something far too big.
  if (Math.floor((content.length * 3) / 4) > limits.maxModuleSize + 2) {
    throw wessError('PAYLOAD_TOO_LARGE', `module is larger than the limit of ${limits.maxModuleSize} bytes${tierSuffix(limits.tier)}`, {
      limit: limits.maxModuleSize,
      tier: limits.tier,
    });
  }
  return Buffer.from(content, 'base64');
}

/** The files of an upload, when its JSON carries any: the archive read into a files image under the uploader's limits. */
function filesOf(files: string | undefined, limits: EffectiveLimits): Promise<FilesContent> | undefined {
  return files === undefined ? undefined : packBase64Archive(files, { maxFilesBytes: limits.maxFilesBytes, maxFiles: limits.maxFiles, tier: limits.tier });
}

/** An upload's content with its files, when it has any (absent otherwise, not undefined: records stay the same shape). */
function withFiles(content: ModuleContent, files: FilesContent | undefined): ModuleContent {
  return files === undefined ? content : { ...content, files };
}

/** Registers the module routes: create, list, get, content, update, delete. */
export function moduleRoutes(app: FastifyInstance, services: Services): void {
  const { config, runner } = services;
  const { reader, writer } = services.store;
  const admit = (bytes: Uint8Array, limits: EffectiveLimits) =>
    admitModule(bytes, runner, limits);

  app.addContentTypeParser(WASM_TYPES, { parseAs: 'buffer', bodyLimit: config.limits.max_module_size }, (_req, body, done) =>
    done(null, body),
  );
  // Text is larger than the binary it makes: it gets the general body limit, the binary the module limits.
  app.addContentTypeParser(WAT_TYPE, { parseAs: 'buffer', bodyLimit: config.server.body_limit }, (_req, body, done) => done(null, body));

  const rawBodies = { 'application/wasm': WASM_BODY, 'application/octet-stream': WASM_BODY, [WAT_TYPE]: WAT_BODY };
  const uploadBody = { 'application/json': createJsonBody, ...rawBodies };
  // A module upload's JSON may carry a files archive besides the binary: it gets room for one.
  const bodyLimit = uploadJsonLimit(config);
  const preParsing = capUploadBody(services);
  app.post('/modules', { ...describeRoute({
    summary: 'Upload a module',
    description:
      'JSON `{name, content}` with base64 content, the raw binary as application/wasm with `?name=`, or WebAssembly text as text/wat with `?name=` (compiled; the binary is stored). The module is checked (imports, memory) before it is stored. ' +
      'JSON may add `files`: the base64 of a tar archive (plain or gzipped) of regular files, directories and symlinks that stay inside it, at most limits.max_files_bytes unpacked and limits.max_files entries; a WASI run of the version sees them as its preopened `/`.',
    tags: TAGS,
    query: rawUploadQuery.partial(),
    fields: UPLOAD_FIELDS,
    body: uploadBody,
    responses: { 201: { description: 'Created', body: ref('Module'), headers: { ...MODULE_HEADERS, location: 'The module URL' } } },
    errors: [...ADMISSION_ERRORS, 'FORBIDDEN', 'TIER_LIMIT', 'UNAVAILABLE'],
  }), bodyLimit, preParsing }, async (request, reply) => {
    const principal = authorize(request.principal, 'module.create');
    if (principal.modules) throw wessError('FORBIDDEN', 'a key limited to named modules cannot create modules');
    const raw = isRawWasm(request);
    const query = raw ? parseWith(rawUploadQuery, request.query, 'query') : { ...parseWith(createQuery, request.query, 'query'), name: undefined };
    // The tenant first: an admin's upload into another tenant is held to that tenant's tier.
    const owner = tenantScope(principal, query.tenant) ?? principal.tenant;
    const { limits, forced } = limitsInTenant(services, principal, owner, query.force === true);
    let name: string;
    let bytes: Uint8Array;
    let archive: string | undefined;
    if (query.name !== undefined) {
      name = query.name;
      bytes = request.body as Buffer;
    } else {
      const body = parseWith(createJsonBody, request.body, 'body');
      name = body.name;
      bytes = decodeBase64(body.content, limits);
      archive = body.files;
    }
    const files = await filesOf(archive, limits);
    const id = uuidv4();
    request.moduleId = id;
    const details: Record<string, unknown> = forced ? { name, forced } : { name };
    if (files) details.files = files.summary;
    const record = await audited(request, { action: 'module.create', target: id, tenant: owner, details }, 201, async (audit) =>
      writer.submit({ kind: 'create-module', id, tenant: owner, name, content: withFiles(await admit(await moduleBinary(request, bytes), limits), files), quota: quotaOf(limits), audit }),
    );
    return reply.code(201).header('location', `/modules/${record.id}`).header('etag', etag(record.version)).send(record);
  });

  app.get('/modules', describeRoute({
    summary: 'List modules',
    description: "The key's tenant's modules (an admin's: every tenant's, or ?tenant='s), in id order: ids are random, so this is not the order they were made in.",
    tags: TAGS,
    query: tenantListQuery,
    fields: LIST_FIELDS,
    responses: { 200: { description: 'A page of modules', body: ref('ModuleList') } },
    errors: ['VALIDATION', 'FORBIDDEN'],
  }), async (request) => {
    const principal = authorize(request.principal, 'module.read');
    const query = parseWith(tenantListQuery, request.query, 'query');
    return reader.listModules({ limit: query.limit, cursor: query.cursor, tenant: tenantScope(principal, query.tenant), only: principal.modules });
  });

  app.get('/modules/:id', describeRoute({
    summary: "Get a module's metadata",
    tags: TAGS,
    params: idParams,
    responses: { 200: { description: 'The module (no bytes)', body: ref('Module'), headers: MODULE_HEADERS } },
    errors: MODULE_ERRORS,
  }), (request, reply) => {
    // Synchronous for a cached record: no promise, no microtask hop on the hot path. A throw here
    // reaches Fastify's handler try/catch, a rejection its promise handling: both answer the error.
    const found = findModule(services, request, 'module.read');
    if (found instanceof Promise) return found.then((record) => sendRecord(reply, record));
    sendRecord(reply, found);
    return undefined;
  });

  app.get('/modules/:id/content', describeRoute({
    summary: "Download a module's binary",
    tags: TAGS,
    params: idParams,
    responses: { 200: { description: 'The current version\'s bytes', contentType: 'application/wasm', body: WASM_BYTES, headers: { 'x-wess-sha256': 'sha256 of the bytes (hex)' } } },
    errors: [...MODULE_ERRORS, 'CONTENT_CORRUPT'],
  }), async (request, reply: FastifyReply) => {
    const record = await findModule(services, request, 'module.read');
    const bytes = await reader.getContent(record.sha256);
    if (!bytes) throw wessError('CONTENT_CORRUPT', `content ${record.sha256} of module ${record.id} is missing from the store`, { sha256: record.sha256 });
    return reply.type('application/wasm').header('x-wess-sha256', record.sha256).send(Buffer.from(bytes));
  });

  app.put('/modules/:id', { ...describeRoute({
    summary: 'Replace a module (a new version)',
    description:
      'The same bodies as the upload; JSON may give only a new name. A module that fails the checks leaves the current version as it was. ' +
      'Files belong to the version they were uploaded with: a new binary without `files` makes a version without files; a rename alone keeps the current files.',
    tags: TAGS,
    params: idParams,
    query: rawUpdateQuery,
    headers: IF_MATCH,
    fields: { name: 'A new name (application/wasm bodies)', force: FORCE_FIELD },
    body: { 'application/json': updateJsonBody, ...rawBodies },
    responses: { 200: { description: 'The module at its new version', body: ref('Module'), headers: MODULE_HEADERS } },
    errors: [...ADMISSION_ERRORS, ...MODULE_ERRORS, 'TIER_LIMIT', 'VERSION_CONFLICT', 'UNAVAILABLE'],
  }), bodyLimit, preParsing }, async (request, reply) => {
    const expectVersion = parseIfMatch(request.headers['if-match']);
    const { id, tenant: owner } = await findModule(services, request, 'module.update');
    const raw = isRawWasm(request);
    const query = raw ? parseWith(rawUpdateQuery, request.query, 'query') : { ...parseWith(forceQuery, request.query, 'query'), name: undefined };
    const { limits, forced } = limitsInTenant(services, authorize(request.principal, 'module.update'), owner, query.force === true);
    let name: string | undefined;
    let bytes: Uint8Array | undefined;
    let archive: string | undefined;
    if (raw) {
      name = query.name;
      bytes = request.body as Buffer;
    } else {
      const body = parseWith(updateJsonBody, request.body, 'body');
      name = body.name;
      if (body.content !== undefined) bytes = decodeBase64(body.content, limits);
      archive = body.files;
    }
    const files = await filesOf(archive, limits);
    // If-Match is checked by the writer against the batch it is building, not here: a check in the
    // route would race with a concurrent PUT queued behind it. A rename likewise keeps whatever
    // content is current when the writer gets to it, not what this route read. The tenant is
    // checked there again for the same reason.
    const details: Record<string, unknown> = bytes ? {} : { rename: true };
    if (forced) details.forced = true;
    if (files) details.files = files.summary;
    const draft = { action: 'module.update', target: id, tenant: owner, details };
    const record = await audited(request, draft, 200, async (audit) => {
      const guard = { id, expectVersion, tenant: tenantGuard(request.principal), audit, quota: quotaOf(limits) };
      return bytes
        ? writer.submit({ kind: 'update-module', ...guard, name, content: withFiles(await admit(await moduleBinary(request, bytes), limits), files) })
        : writer.submit({ kind: 'rename-module', ...guard, name: requireName(name) });
    });
    return reply.header('etag', etag(record.version)).send(record);
  });

  app.delete('/modules/:id', describeRoute({
    summary: 'Delete a module and its history',
    tags: TAGS,
    params: idParams,
    headers: IF_MATCH,
    responses: { 204: { description: 'Deleted' } },
    errors: [...MODULE_ERRORS, 'VERSION_CONFLICT', 'UNAVAILABLE'],
  }), async (request, reply) => {
    const expectVersion = parseIfMatch(request.headers['if-match']);
    const { id, tenant: owner } = await findModule(services, request, 'module.delete');
    await audited(request, { action: 'module.delete', target: id, tenant: owner }, 204, (audit) =>
      writer.submit({ kind: 'delete-module', id, expectVersion, tenant: tenantGuard(request.principal), audit }),
    );
    return reply.code(204).send();
  });
}

/** The schema already refuses a PUT with neither name nor content; this narrows the type. */
function requireName(name: string | undefined): string {
  if (name === undefined) throw wessError('VALIDATION', 'body: give name, content or both');
  return name;
}
