import type { FastifyInstance, FastifyRequest } from 'fastify';
import { wessError } from '../../errors.js';
import type { VersionRecord } from '../../store/types.js';
import { audited } from '../plugins/audit.js';
import { describeRoute, ref } from '../openapi.js';
import { etag, forceQuery, idParams, listQuery, parseIfMatch, parseWith, rollbackBody, versionParams } from '../schemas.js';
import type { Services } from '../../services.js';
import { limitsInTenant, quotaOf } from '../tenant-limits.js';
import { findModule } from './modules.js';
import { authorize, tenantGuard } from '../../auth/policy.js';

/**
 * One version of a module for a request: MODULE_NOT_FOUND when the module does not exist,
 * VERSION_NOT_FOUND when it does but never had that version.
 */
export async function findVersion(services: Services, request: FastifyRequest): Promise<VersionRecord> {
  const { version } = parseWith(versionParams, request.params, 'path');
  const { id } = await findModule(services, request, 'module.read');
  const record = await services.store.reader.getVersion(id, version);
  if (record) return record;
  throw wessError('VERSION_NOT_FOUND', `module ${id} has no version ${version}`);
}

const TAGS = ['versions'];
const MODULE_ERRORS = ['VALIDATION', 'MODULE_NOT_FOUND', 'FORBIDDEN'] as const;
const VERSION_ERRORS = [...MODULE_ERRORS, 'VERSION_NOT_FOUND'] as const;

/** Registers the history routes: list versions, one version, its content, and rollback. */
export function versionRoutes(app: FastifyInstance, services: Services): void {
  const { reader, writer } = services.store;

  app.get('/modules/:id/versions', describeRoute({
    summary: "List a module's versions, newest first",
    tags: TAGS,
    params: idParams,
    query: listQuery,
    fields: { limit: 'Page size', cursor: 'next_cursor of the previous page' },
    responses: { 200: { description: 'A page of versions', body: ref('VersionList') } },
    errors: MODULE_ERRORS,
  }), async (request) => {
    const query = parseWith(listQuery, request.query, 'query');
    const { id } = await findModule(services, request, 'module.read');
    return reader.listVersions(id, query.cursor === undefined ? { limit: query.limit } : { limit: query.limit, cursor: query.cursor });
  });

  app.get('/modules/:id/versions/:version', describeRoute({
    summary: "Get one version's metadata",
    tags: TAGS,
    params: versionParams,
    responses: { 200: { description: 'The version', body: ref('Version'), headers: { etag: 'The version, quoted: "3"' } } },
    errors: VERSION_ERRORS,
  }), async (request, reply) => {
    const record = await findVersion(services, request);
    return reply.header('etag', etag(record.version)).send(record);
  });

  app.get('/modules/:id/versions/:version/content', describeRoute({
    summary: "Download one version's binary",
    tags: TAGS,
    params: versionParams,
    responses: {
      200: { description: "The version's bytes", contentType: 'application/wasm', body: { type: 'string', format: 'binary' }, headers: { 'x-wess-sha256': 'sha256 of the bytes (hex)' } },
    },
    errors: [...VERSION_ERRORS, 'CONTENT_CORRUPT'],
  }), async (request, reply) => {
    const record = await findVersion(services, request);
    const bytes = await reader.getContent(record.sha256);
    if (!bytes) {
      throw wessError('CONTENT_CORRUPT', `content ${record.sha256} of module ${record.id} version ${record.version} is missing from the store`, { sha256: record.sha256 });
    }
    return reply.type('application/wasm').header('x-wess-sha256', record.sha256).send(Buffer.from(bytes));
  });

  // Rolling back to the current version is allowed: it is still a new version, like a PUT of the
  // same bytes. A client that wants "only if nothing changed" sends If-Match.
  app.post('/modules/:id/rollback', describeRoute({
    summary: 'Make an old version current again (as a new version)',
    tags: TAGS,
    params: idParams,
    query: forceQuery,
    fields: { force: "Admin keys only: true skips the module's tenant's tier (max_storage); audited as forced" },
    headers: { type: 'object', properties: { 'if-match': { type: 'string', description: 'The version expected to be current, as "3"' } } },
    body: rollbackBody,
    responses: { 200: { description: 'The module at its new version', body: ref('Module'), headers: { etag: 'The new version, quoted' } } },
    errors: [...VERSION_ERRORS, 'TIER_LIMIT', 'VERSION_CONFLICT', 'UNAVAILABLE'],
  }), async (request, reply) => {
    const expectVersion = parseIfMatch(request.headers['if-match']);
    const { id, tenant: owner } = await findModule(services, request, 'module.update');
    const { version } = parseWith(rollbackBody, request.body ?? {}, 'body');
    const { force } = parseWith(forceQuery, request.query, 'query');
    // A rollback adds a version, and every version counts against the tenant's max_storage.
    const { limits, forced } = limitsInTenant(services, authorize(request.principal, 'module.update'), owner, force === true);
    const details = forced ? { to_version: version, forced } : { to_version: version };
    const record = await audited(request, { action: 'module.rollback', target: id, tenant: owner, details }, 200, (audit) =>
      writer.submit({ kind: 'rollback-module', id, toVersion: version, expectVersion, tenant: tenantGuard(request.principal), audit, quota: quotaOf(limits) }),
    );
    return reply.header('etag', etag(record.version)).send(record);
  });
}
