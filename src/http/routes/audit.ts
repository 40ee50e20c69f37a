import type { FastifyInstance } from 'fastify';
import { listAudit } from '../../auth/audit.js';
import { authorize } from '../../auth/policy.js';
import { describeRoute, ref } from '../openapi.js';
import { parseWith, tenantListQuery } from '../schemas.js';
import type { Services } from '../../services.js';

/** GET /audit: the audit log, newest first, paginated, optionally one tenant's (admin only). */
export function auditRoutes(app: FastifyInstance, services: Services): void {
  app.get('/audit', describeRoute({
    summary: 'Read the audit log (admin), newest first',
    tags: ['audit'],
    query: tenantListQuery,
    fields: { limit: 'Page size', cursor: 'next_cursor of the previous page', tenant: 'Only this tenant' },
    responses: { 200: { description: 'A page of audit entries', body: ref('AuditList') } },
    errors: ['VALIDATION', 'FORBIDDEN'],
  }), async (request) => {
    authorize(request.principal, 'audit.read');
    const query = parseWith(tenantListQuery, request.query, 'query');
    return listAudit(services.store.audit, { limit: query.limit, cursor: query.cursor, tenant: query.tenant });
  });
}
