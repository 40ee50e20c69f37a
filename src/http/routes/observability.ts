import type { FastifyInstance } from 'fastify';
import { authorize, tenantScope } from '../../auth/policy.js';
import type { InvocationLog } from '../../observability/invocation-log.js';
import type { TenantSettingsTable } from '../../observability/tenant-settings.js';
import { describeRoute, ref } from '../openapi.js';
import { audited } from '../plugins/audit.js';
import { idParams, invocationsQuery, parseWith, tenantQuery, tenantSettingsBody } from '../schemas.js';
import type { Services } from '../../services.js';
import { findModule } from './modules.js';

/** Registers GET /modules/{id}/invocations (a module's last calls) and GET/PUT /settings (a tenant's own settings). */
export function observabilityRoutes(app: FastifyInstance, services: Services, log: InvocationLog, settings: TenantSettingsTable): void {
  app.get('/modules/:id/invocations', describeRoute({
    summary: "A module's last calls",
    description:
      'Newest first: each call of the module (run, batch, WASI program or HTTP handler) with its request id, trace id, key, version, export or route, ' +
      "a digest of its arguments (the arguments themselves only while the tenant's capture_args is on), status and error code, stats, and the start of a WASI program's stderr. " +
      'The log keeps observability.invocations_kept calls per module and is written a second at a time, off the request path.',
    tags: ['modules'],
    params: idParams,
    query: invocationsQuery,
    fields: {
      limit: 'Page size (at most 200)',
      cursor: 'next_cursor of the previous page',
      status: '`ok` or `error`: only calls with that outcome',
      since: 'Only calls answered at or after this time (ISO 8601)',
    },
    responses: { 200: { description: 'A page of calls, newest first', body: ref('InvocationList') } },
    errors: ['VALIDATION', 'FORBIDDEN', 'MODULE_NOT_FOUND'],
  }), async (request) => {
    const query = parseWith(invocationsQuery, request.query, 'query');
    const found = findModule(services, request, 'module.read');
    const record = found instanceof Promise ? await found : found;
    const since = query.since === undefined ? undefined : new Date(query.since).toISOString();
    return log.page(record.id, { limit: query.limit, before: query.cursor === undefined ? undefined : Number(query.cursor), status: query.status, since });
  });

  app.get('/settings', describeRoute({
    summary: "The tenant's settings",
    description: "The key's own tenant's; an admin's: ?tenant='s (default: its own).",
    tags: ['keys'],
    query: tenantQuery,
    fields: { tenant: 'Admin keys only: another tenant' },
    responses: { 200: { description: 'The settings (the defaults when the tenant never set any)', body: ref('TenantSettings') } },
    errors: ['VALIDATION', 'FORBIDDEN'],
  }), async (request) => {
    const principal = authorize(request.principal, 'module.read');
    const query = parseWith(tenantQuery, request.query, 'query');
    return settings.get(tenantScope(principal, query.tenant) ?? principal.tenant);
  });

  app.put('/settings', describeRoute({
    summary: "Set the tenant's settings",
    description: '`capture_args`: whether the invocation log keeps the arguments of the tenant\'s calls from now on (off: only their sha256). Developers and admins; audited.',
    tags: ['keys'],
    body: tenantSettingsBody,
    fields: { capture_args: 'Keep calls\' arguments in the invocation log', tenant: 'Admin keys only: another tenant' },
    responses: { 200: { description: 'The settings as stored', body: ref('TenantSettings') } },
    errors: ['VALIDATION', 'FORBIDDEN', 'UNAVAILABLE'],
  }), async (request) => {
    const principal = authorize(request.principal, 'tenant.settings');
    const body = parseWith(tenantSettingsBody, request.body, 'body');
    const tenant = tenantScope(principal, body.tenant) ?? principal.tenant;
    const next = { tenant, capture_args: body.capture_args, updated_at: new Date().toISOString() };
    return audited(request, { action: 'tenant.settings', target: tenant, tenant, details: { capture_args: next.capture_args } }, 200, (audit) =>
      services.store.writer.submit({ kind: 'put-tenant-settings', settings: next, audit }),
    );
  });
}
