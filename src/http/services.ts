import type { Config } from '../config/schema.js';
import type { EventBus } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { Runner } from '../runner/pool.js';
import type { Db } from '../store/db.js';
import type { Reader } from '../store/reader.js';
import type { Writer } from '../store/writer.js';

/** Everything a route may use; built once by app.ts and passed down, never imported globally. */
export interface Services {
  config: Config;
  metrics: Metrics;
  bus: EventBus;
  db: Db;
  writer: Writer;
  reader: Reader;
  runner: Runner;
  /** Flipped when shutdown starts: readiness fails and new requests get 503. */
  lifecycle: { closing: boolean; startedAt: number };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's components, for main.ts, health checks and tests. */
    services: Services;
  }
  interface FastifyRequest {
    /** The module a request is about, for the access log line. */
    moduleId: string | null;
  }
}
