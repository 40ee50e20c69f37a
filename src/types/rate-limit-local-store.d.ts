// @fastify/rate-limit ships its in-memory store as untyped CommonJS; this is the part Wess uses.
declare module '@fastify/rate-limit/store/LocalStore.js' {
  /** Requests counted in the window so far and milliseconds left in it: the store's live record, not a copy. */
  interface LocalStoreResult {
    current: number;
    ttl: number;
  }

  /** The plugin's in-memory store: an LRU of counters (5,000 by default). */
  class LocalStore {
    constructor(continueExceeding: boolean, exponentialBackoff: boolean, cache?: number);
    incr(key: string, callback: (err: Error | null, result: LocalStoreResult) => void, timeWindow: number, max: number): void;
    child(routeOptions: { continueExceeding?: boolean; exponentialBackoff?: boolean; cache?: number }): LocalStore;
  }

  export = LocalStore;
}
