// @fastify/rate-limit ships its Redis store as untyped CommonJS; this is the part Wess uses.
declare module '@fastify/rate-limit/store/RedisStore.js' {
  import type { Redis } from 'ioredis';

  /** What one INCR answers: requests counted in the window so far and milliseconds left in it. */
  interface RedisStoreResult {
    current: number;
    ttl: number;
  }

  /** The plugin's Redis store: one Lua script per request does INCR and (on the first hit) PEXPIRE. */
  class RedisStore {
    constructor(continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string);
    incr(key: string, callback: (err: Error | null, result: RedisStoreResult | null) => void, timeWindow: number, max: number): void;
    /** A store for a route with its own limits: same client, keys prefixed with the route's method and URL. */
    child(routeOptions: { continueExceeding?: boolean; exponentialBackoff?: boolean; routeInfo: { method?: unknown; url?: unknown } }): RedisStore;
  }

  export = RedisStore;
}
