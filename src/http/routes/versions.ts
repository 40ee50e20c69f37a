import type { FastifyInstance, FastifyRequest } from 'fastify';
import { wessError } from '../../errors.js';
import type { VersionRecord } from '../../store/types.js';
import { audited } from '../auth.js';
import { etag, listQuery, parseIfMatch, parseWith, rollbackBody, versionParams } from '../schemas.js';
import type { Services } from '../services.js';
import { findModule } from './modules.js';
import { tenantGuard } from '../../auth/policy.js';

/**
 * One version of a module for a request: MODULE_NOT_FOUND when the module does not exist,
 * VERSION_NOT_FOUND when it does but never had that version.
 */
export async function findVersion(services: Services, request: FastifyRequest): Promise<VersionRecord> {
  const { version } = parseWith(versionParams, request.params, 'path');
  const { id } = await findModule(services, request, 'module.read');
  const record = await services.reader.getVersion(id, version);
  if (record) return record;
  throw wessError('VERSION_NOT_FOUND', `module ${id} has no version ${version}`);
}

/** Registers the history routes: list versions, one version, its content, and rollback. */
export function versionRoutes(app: FastifyInstance, services: Services): void {
  const { reader, writer } = services;

  app.get('/modules/:id/versions', async (request) => {
    const query = parseWith(listQuery, request.query, 'query');
    const { id } = await findModule(services, request, 'module.read');
    return reader.listVersions(id, query.cursor === undefined ? { limit: query.limit } : { limit: query.limit, cursor: query.cursor });
  });

  app.get('/modules/:id/versions/:version', async (request, reply) => {
    const record = await findVersion(services, request);
    return reply.header('etag', etag(record.version)).send(record);
  });

  app.get('/modules/:id/versions/:version/content', async (request, reply) => {
    const record = await findVersion(services, request);
    const bytes = await reader.getContent(record.sha256);
    if (!bytes) {
      throw wessError('CONTENT_CORRUPT', `content ${record.sha256} of module ${record.id} version ${record.version} is missing from the store`);
    }
    return reply.type('application/wasm').header('x-wess-sha256', record.sha256).send(Buffer.from(bytes));
  });

  // Rolling back to the current version is allowed: it is still a new version, like a PUT of the
  // same bytes. A client that wants "only if nothing changed" sends If-Match.
  app.post('/modules/:id/rollback', async (request, reply) => {
    const expectVersion = parseIfMatch(request.headers['if-match']);
    const { id, tenant: owner } = await findModule(services, request, 'module.update');
    const { version } = parseWith(rollbackBody, request.body ?? {}, 'body');
    const record = await audited(request, { action: 'module.rollback', target: id, tenant: owner, details: { to_version: version } }, 200, (audit) =>
      writer.submit({ kind: 'rollback-module', id, toVersion: version, expectVersion, tenant: tenantGuard(request.principal), audit }),
    );
    return reply.header('etag', etag(record.version)).send(record);
  });
}
