import type { EventBus } from '../../events.js';
import type { RouteStore } from '../../store/store.js';
import type { RouteRecord } from '../../store/types.js';
import { splitHandlerUrl } from './paths.js';

/** A request path matched to a route: the route and what follows its path (CGI's PATH_INFO). */
export interface RouteMatch {
  route: RouteRecord;
  pathInfo: string;
}

/** Requests answered and the time they took, for one status class of one route. */
export interface ClassStats {
  requests: number;
  total_ms: number;
  max_ms: number;
}

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx';

/**
 * Every HTTP handler route, in memory: a request to /h/… must not wait on the store to find its
 * route. Loaded at start; kept current by the writer's route events, which fire once a change is
 * durable (and, on a shared store, when another node's change is heard), so a route answers from
 * the request after its 201. Per tenant, routes are kept longest path first: the first that
 * matches is the longest prefix.
 */
export class RouteTable {
  readonly #routes = new Map<string, RouteRecord>();
  readonly #byTenant = new Map<string, RouteRecord[]>();
  /** Per route, this node's counts since start (GET /routes/{id} shows them; /metrics has only bounded labels). */
  readonly #stats = new Map<string, Partial<Record<StatusClass, ClassStats>>>();
  readonly #unsubscribe: Array<() => void>;

  private constructor(routes: RouteRecord[], bus: EventBus) {
    for (const route of routes) this.#routes.set(route.id, route);
    for (const tenant of new Set(routes.map((r) => r.tenant))) this.#index(tenant);
    this.#unsubscribe = [
      bus.on('route.stored', ({ route }) => this.#put(route)),
      bus.on('route.deleted', ({ route }) => this.#delete(route)),
    ];
  }

  static async load(store: RouteStore, bus: EventBus): Promise<RouteTable> {
    return new RouteTable(await store.all(), bus);
  }

  /** The route of `tenant` whose path is the longest prefix of `path` (segment-wise), if any. */
  match(tenant: string, path: string): RouteMatch | undefined {
    const routes = this.#byTenant.get(tenant);
    if (routes === undefined) return undefined;
    for (const route of routes) {
      if (route.path === '/') return { route, pathInfo: path === '/' ? '' : path };
      if (path === route.path) return { route, pathInfo: '' };
      if (path.startsWith(route.path) && path.charCodeAt(route.path.length) === 0x2f) return { route, pathInfo: path.slice(route.path.length) };
    }
    return undefined;
  }

  /**
   * Whether a handler request's URL (/h/…) is for a private route, which only a valid key may call:
   * the auth hook refuses it without one, as any keyed route. Not for a public route or no route at all.
   */
  isPrivate(url: string): boolean {
    const { tenant, path } = splitHandlerUrl(url);
    return this.match(tenant, path)?.route.public === false;
  }

  get(id: string): RouteRecord | undefined {
    return this.#routes.get(id);
  }

  /** Routes in path order: one tenant's, or every tenant's. */
  list(tenant?: string): RouteRecord[] {
    const all = tenant === undefined ? [...this.#routes.values()] : [...(this.#byTenant.get(tenant) ?? [])];
    return all.sort((a, b) => (a.tenant !== b.tenant ? (a.tenant < b.tenant ? -1 : 1) : a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Counts one answered request of a route. */
  record(id: string, statusClass: StatusClass, ms: number): void {
    let byClass = this.#stats.get(id);
    if (byClass === undefined) this.#stats.set(id, (byClass = {}));
    const stats = (byClass[statusClass] ??= { requests: 0, total_ms: 0, max_ms: 0 });
    stats.requests += 1;
    stats.total_ms += ms;
    stats.max_ms = Math.max(stats.max_ms, ms);
  }

  stats(id: string): Partial<Record<StatusClass, ClassStats>> {
    return this.#stats.get(id) ?? {};
  }

  close(): void {
    for (const off of this.#unsubscribe) off();
  }

  #put(route: RouteRecord): void {
    this.#routes.set(route.id, route);
    this.#index(route.tenant);
  }

  #delete(route: RouteRecord): void {
    this.#routes.delete(route.id);
    this.#stats.delete(route.id);
    this.#index(route.tenant);
  }

  /** Rebuilds one tenant's list, longest path first (a tenant has few routes; changes are rare). */
  #index(tenant: string): void {
    const routes = [...this.#routes.values()].filter((r) => r.tenant === tenant).sort((a, b) => b.path.length - a.path.length);
    if (routes.length === 0) this.#byTenant.delete(tenant);
    else this.#byTenant.set(tenant, routes);
  }
}

/** A status's class, for the bounded metric labels and the route stats. */
export function statusClass(status: number): StatusClass {
  return status >= 500 ? '5xx' : status >= 400 ? '4xx' : status >= 300 ? '3xx' : '2xx';
}
