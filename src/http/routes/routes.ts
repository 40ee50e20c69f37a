import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { authorize, tenantGuard, tenantScope } from '../../auth/policy.js';
import type { Principal } from '../../auth/types.js';
import { wessError } from '../../errors.js';
import type { RouteRecord } from '../../store/types.js';
import type { RouteTable } from '../handlers/route-table.js';
import { describeRoute, ref } from '../openapi.js';
import { audited } from '../plugins/audit.js';
import { idParams, parseWith, routeBody, tenantListQuery } from '../schemas.js';
import type { Services } from '../../services.js';

const TAGS = ['routes'];

type RouteBody = ReturnType<typeof routeBody.parse>;

/**
 * Registers the HTTP handler route bindings: create, list, read, replace, delete. A route binds a
 * path under /h/<tenant> to a WASI command of the same tenant (routes/handlers.ts serves it).
 */
export function routeRoutes(app: FastifyInstance, services: Services, table: RouteTable): void {
  const { reader, writer } = services.store;

  /** A route the principal may see: another tenant's answers like a missing one. */
  function visibleRoute(principal: Principal, id: string): RouteRecord {
    const route = table.get(id);
    if (!route || (principal.role !== 'admin' && route.tenant !== principal.tenant)) throw wessError('ROUTE_NOT_FOUND', `no route with id ${id}`);
    return route;
  }

  /** Refuses, with 400, a binding to anything but a WASI command of the route's tenant (the pinned version's kind, when pinned). */
  async function checkTarget(principal: Principal, tenant: string, body: RouteBody): Promise<void> {
    const record = await reader.getModule(body.module);
    if (!record || record.tenant !== tenant) throw wessError('VALIDATION', `body.module: ${body.module} is not a module of tenant ${tenant}`);
    if (principal.modules && !principal.modules.has(record.id)) {
      throw wessError('FORBIDDEN', `this key is limited to ${principal.modules.size} named module(s), and ${record.id} is not one of them`);
    }
    const version = body.version ?? record.version;
    const target = version === record.version ? record : await reader.getVersion(record.id, version);
    if (!target) throw wessError('VALIDATION', `body.version: module ${record.id} has no version ${version}`);
    if (target.kind !== 'wasi' || !target.exports.some((e) => e.name === '_start')) {
      throw wessError('VALIDATION', `body.module: version ${version} of module ${record.id} is not a WASI command (kind "wasi" exporting _start); only a WASI program can answer HTTP requests`);
    }
  }

  function recordOf(body: RouteBody, id: string, tenant: string, createdBy: string | null, createdAt: string): RouteRecord {
    return {
      id,
      tenant,
      path: body.path,
      module: body.module,
      version: body.version ?? null,
      methods: body.methods ? [...new Set(body.methods)] : null,
      public: body.public ?? false,
      pass_authorization: body.pass_authorization ?? false,
      created_by: createdBy,
      created_at: createdAt,
      updated_at: new Date().toISOString(),
    };
  }

  const view = (route: RouteRecord) => ({ ...route, url: `/h/${route.tenant}${route.path === '/' ? '/' : route.path}` });

  app.post('/routes', describeRoute({
    summary: 'Bind a path to a WASI program (an HTTP handler)',
    description:
      'Requests to /h/{tenant}{path} and below it then run the module by the CGI convention (see the README, "HTTP handlers"). ' +
      'The route follows the module\'s current version unless `version` pins one; it is private (a key of the tenant with run rights) unless `public`.',
    tags: TAGS,
    body: routeBody,
    fields: {
      path: '"/" or "/segment/…": requests to /h/{tenant}{path} and below it',
      module: 'A WASI command (kind "wasi", exporting _start) of the tenant',
      version: 'Pin this version; absent or null: follow the current one',
      methods: 'Methods the route takes (others: 405); absent or null: any',
      public: 'Serve without a key (rate-limited per client IP, charged to the tenant)',
      pass_authorization: 'Give the guest the Authorization header (as HTTP_AUTHORIZATION)',
      tenant: 'Admin keys only: the tenant to bind in (default: the key\'s own)',
    },
    responses: { 201: { description: 'Created', body: ref('Route'), headers: { location: 'The route URL' } } },
    errors: ['VALIDATION', 'FORBIDDEN', 'ROUTE_CONFLICT', 'UNAVAILABLE'],
  }), async (request, reply) => {
    const principal = authorize(request.principal, 'route.write');
    const body = parseWith(routeBody, request.body, 'body');
    const tenant = tenantScope(principal, body.tenant) ?? principal.tenant;
    await checkTarget(principal, tenant, body);
    const now = new Date().toISOString();
    const route = recordOf(body, randomUUID(), tenant, principal.keyId, now);
    const stored = await audited(request, { action: 'route.create', target: route.id, tenant, details: { path: route.path, module: route.module, public: route.public } }, 201, (audit) =>
      writer.submit({ kind: 'put-route', route, create: true, audit }),
    );
    return reply.code(201).header('location', `/routes/${stored.id}`).send(view(stored));
  });

  app.get('/routes', describeRoute({
    summary: 'List HTTP handler routes',
    description: "A key's own tenant's, in path order; an admin's: every tenant's, or ?tenant='s.",
    tags: TAGS,
    query: tenantListQuery,
    fields: { limit: 'Page size', cursor: 'next_cursor of the previous page', tenant: 'Admin keys only: one tenant' },
    responses: { 200: { description: 'A page of routes', body: ref('RouteList') } },
    errors: ['VALIDATION', 'FORBIDDEN'],
  }), async (request) => {
    const principal = authorize(request.principal, 'route.read');
    const query = parseWith(tenantListQuery, request.query, 'query');
    const all = table.list(tenantScope(principal, query.tenant));
    // The cursor is the last route's id; routes are listed in (tenant, path) order.
    const start = query.cursor === undefined ? 0 : all.findIndex((route) => route.id === query.cursor) + 1;
    const items = start === 0 && query.cursor !== undefined ? [] : all.slice(start, start + query.limit);
    const last = items[items.length - 1];
    return { items: items.map(view), next_cursor: last && start + query.limit < all.length ? last.id : null };
  });

  app.get('/routes/:id', describeRoute({
    summary: 'One HTTP handler route, with its requests on this node',
    description: '`stats` counts the requests this node answered for the route since it started, by status class, with their total and longest time.',
    tags: TAGS,
    params: idParams,
    responses: { 200: { description: 'The route', body: ref('Route') } },
    errors: ['VALIDATION', 'FORBIDDEN', 'ROUTE_NOT_FOUND'],
  }), async (request) => {
    const principal = authorize(request.principal, 'route.read');
    const { id } = parseWith(idParams, request.params, 'path');
    const route = visibleRoute(principal, id);
    return { ...view(route), stats: table.stats(route.id) };
  });

  app.put('/routes/:id', describeRoute({
    summary: 'Replace an HTTP handler route',
    description: 'The same body as POST (without tenant): the whole binding is replaced; the route keeps its id and tenant.',
    tags: TAGS,
    params: idParams,
    body: routeBody,
    responses: { 200: { description: 'The route as replaced', body: ref('Route') } },
    errors: ['VALIDATION', 'FORBIDDEN', 'ROUTE_NOT_FOUND', 'ROUTE_CONFLICT', 'UNAVAILABLE'],
  }), async (request) => {
    const principal = authorize(request.principal, 'route.write');
    const { id } = parseWith(idParams, request.params, 'path');
    const body = parseWith(routeBody, request.body, 'body');
    if (body.tenant !== undefined) throw wessError('VALIDATION', 'body.tenant: a route keeps its tenant; create a new route in the other tenant');
    const current = visibleRoute(principal, id);
    await checkTarget(principal, current.tenant, body);
    const route = recordOf(body, id, current.tenant, current.created_by, current.created_at);
    const stored = await audited(request, { action: 'route.update', target: id, tenant: current.tenant, details: { path: route.path, module: route.module, public: route.public } }, 200, (audit) =>
      writer.submit({ kind: 'put-route', route, create: false, tenant: tenantGuard(principal), audit }),
    );
    return view(stored);
  });

  app.delete('/routes/:id', describeRoute({
    summary: 'Delete an HTTP handler route',
    description: 'Durable before the answer; the path answers 404 from the next request.',
    tags: TAGS,
    params: idParams,
    responses: { 204: { description: 'Deleted' } },
    errors: ['VALIDATION', 'FORBIDDEN', 'ROUTE_NOT_FOUND', 'UNAVAILABLE'],
  }), async (request, reply) => {
    const principal = authorize(request.principal, 'route.write');
    const { id } = parseWith(idParams, request.params, 'path');
    const route = visibleRoute(principal, id);
    await audited(request, { action: 'route.delete', target: id, tenant: route.tenant, details: { path: route.path } }, 204, (audit) =>
      writer.submit({ kind: 'delete-route', id, tenant: tenantGuard(principal), audit }),
    );
    return reply.code(204).send();
  });
}
