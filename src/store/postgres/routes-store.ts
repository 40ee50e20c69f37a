import type pg from 'pg';
import { wessError } from '../../errors.js';
import type { Applied } from '../group-writer.js';
import type { RouteStore } from '../store.js';
import type { RouteMessage, RouteRecord } from '../types.js';

/** HTTP handler routes in wess_routes, as the JSON they were written as. */
export class PgRouteStore implements RouteStore {
  constructor(private readonly pool: pg.Pool) {}

  async all(): Promise<RouteRecord[]> {
    const res = await this.pool.query<{ record: RouteRecord }>('SELECT record FROM wess_routes ORDER BY id');
    return res.rows.map((row) => row.record);
  }
}

/**
 * A route's creation, replacement or deletion, inside the writer's transaction. The row is locked
 * before it is checked; the (tenant, path) unique index refuses a path another route holds, even
 * one a racing node inserted a moment ago.
 */
export async function applyRouteMessage(c: pg.PoolClient, msg: RouteMessage): Promise<Applied> {
  if (msg.kind === 'delete-route') {
    const route = await locked(c, msg.id, msg.tenant);
    await c.query('DELETE FROM wess_routes WHERE id = $1', [route.id]);
    return { result: route, moduleDelta: 0, events: [{ topic: 'route.deleted', payload: { id: route.id, tenant: route.tenant, route } }] };
  }
  const { route } = msg;
  if (!msg.create) {
    const previous = await locked(c, route.id, msg.tenant);
    if (previous.tenant !== route.tenant) throw wessError('INTERNAL', `route ${route.id} cannot move to another tenant`);
  }
  const holder = await c.query<{ id: string }>('SELECT id FROM wess_routes WHERE tenant = $1 AND path = $2', [route.tenant, route.path]);
  const other = holder.rows[0]?.id;
  if (other !== undefined && other !== route.id) {
    throw wessError('ROUTE_CONFLICT', `tenant ${route.tenant} already has a route at ${route.path}`, { path: route.path });
  }
  try {
    await c.query(
      `INSERT INTO wess_routes (id, tenant, path, record) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET path = EXCLUDED.path, record = EXCLUDED.record`,
      [route.id, route.tenant, route.path, JSON.stringify(route)],
    );
  } catch (err) {
    // Another node took the path between the check and the insert.
    if ((err as { code?: string }).code === '23505') throw wessError('ROUTE_CONFLICT', `tenant ${route.tenant} already has a route at ${route.path}`, { path: route.path });
    throw err;
  }
  return { result: route, moduleDelta: 0, events: [{ topic: 'route.stored', payload: { id: route.id, tenant: route.tenant, route } }] };
}

async function locked(c: pg.PoolClient, id: string, tenant: string | undefined): Promise<RouteRecord> {
  const route = (await c.query<{ record: RouteRecord }>('SELECT record FROM wess_routes WHERE id = $1 FOR UPDATE', [id])).rows[0]?.record;
  if (!route || (tenant !== undefined && route.tenant !== tenant)) throw wessError('ROUTE_NOT_FOUND', `no route with id ${id}`);
  return route;
}
