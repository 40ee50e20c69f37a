import { wessError } from '../../errors.js';
import type { Applied } from '../group-writer.js';
import type { RouteStore } from '../store.js';
import type { RouteMessage, RouteRecord } from '../types.js';
import { stageAudit } from './apply-auth.js';
import { decodeJson, encodeJson } from './codec.js';
import type { Db } from './db.js';
import { routeKey, routePathKey, routeRange } from './keys.js';
import type { Overlay } from './overlay.js';

/** HTTP handler routes under `hr!<id>`, as JSON, with their `hp!<tenant>!<path>` index. */
export class LevelRouteStore implements RouteStore {
  constructor(private readonly db: Db) {}

  async all(): Promise<RouteRecord[]> {
    const routes: RouteRecord[] = [];
    for await (const [, value] of this.db.entries(routeRange())) routes.push(decodeJson<RouteRecord>(value));
    return routes;
  }
}

/** The keys applyRouteMessage reads, for the writer's prefetch. */
export function routeReadsOf(msg: RouteMessage): string[] {
  return msg.kind === 'put-route' ? [routeKey(msg.route.id), routePathKey(msg.route.tenant, msg.route.path)] : [routeKey(msg.id)];
}

/**
 * Stages a route's creation, replacement or deletion with its path index. The path is checked on
 * the overlay, which holds the batch's earlier writes: two creations racing for one path in a batch
 * are applied one after the other, and the second is ROUTE_CONFLICT.
 */
export async function applyRouteMessage(msg: RouteMessage, overlay: Overlay): Promise<Applied> {
  if (msg.kind === 'delete-route') {
    const route = await stored(overlay, msg.id, msg.tenant);
    overlay.del(routeKey(route.id));
    overlay.del(routePathKey(route.tenant, route.path));
    if (msg.audit) stageAudit(msg.audit, overlay);
    return { result: route, moduleDelta: 0, events: [{ topic: 'route.deleted', payload: { id: route.id, tenant: route.tenant, route } }] };
  }
  const { route } = msg;
  if (!msg.create) {
    const previous = await stored(overlay, route.id, msg.tenant);
    if (previous.tenant !== route.tenant) throw wessError('INTERNAL', `route ${route.id} cannot move to another tenant`);
    if (previous.path !== route.path) overlay.del(routePathKey(previous.tenant, previous.path));
  } else if (await overlay.get(routeKey(route.id))) {
    // Ids are server-generated UUIDv4s, so a clash is a bug, not a client conflict.
    throw wessError('INTERNAL', `route id ${route.id} already exists`);
  }
  const holder = await overlay.get(routePathKey(route.tenant, route.path));
  if (holder !== undefined && Buffer.from(holder).toString('utf8') !== route.id) {
    throw wessError('ROUTE_CONFLICT', `tenant ${route.tenant} already has a route at ${route.path}`, { path: route.path });
  }
  overlay.put(routeKey(route.id), encodeJson(route));
  overlay.put(routePathKey(route.tenant, route.path), Buffer.from(route.id, 'utf8'));
  if (msg.audit) stageAudit(msg.audit, overlay);
  return { result: route, moduleDelta: 0, events: [{ topic: 'route.stored', payload: { id: route.id, tenant: route.tenant, route } }] };
}

async function stored(overlay: Overlay, id: string, tenant: string | undefined): Promise<RouteRecord> {
  const bytes = await overlay.get(routeKey(id));
  const route = bytes ? decodeJson<RouteRecord>(bytes) : undefined;
  if (!route || (tenant !== undefined && route.tenant !== tenant)) throw wessError('ROUTE_NOT_FOUND', `no route with id ${id}`);
  return route;
}
