import type { AuditDraft } from '../auth/audit.js';
import type { Principal } from '../auth/types.js';
import type { Services } from '../services.js';
import type { RequestTrace } from './plugins/tracing.js';
import type { RunNote } from '../observability/run-note.js';

/* What Wess adds to Fastify's instance and requests. The Services themselves live in src/services.ts: config/ and main.ts use them too. */
declare module 'fastify' {
  interface FastifyInstance {
    /** The app's components, for main.ts, health checks and tests. */
    services: Services;
  }
  interface FastifyRequest {
    /** The module a request is about, for the access log line. */
    moduleId: string | null;
    /** Who the request acts as; set by the auth hook before anything else reads it (null only on open routes). */
    principal: Principal | null;
    /** Set by routes that change something: what the audit log records for this request. */
    audit: AuditDraft | null;
    /** True once the route's audit entry went to disk with its change. */
    auditWritten: boolean;
    /** Why the auth hook refused the request (no valid key): the DenialLog counts it, so it owes no audit entry of its own. */
    authDenial: string | null;
    /** The route pattern the request matched ('' for none) once routeOf has read it; null before. */
    routePattern: string | null;
    /** Counted in an aggregate (a denial after the first of its IP, reason and minute): no access line of its own. */
    aggregated: boolean;
    /** The error code the request was answered with (error-handler.ts); null for a success. */
    errorCode: string | null;
    /** Set by a route that ran guest code: what ran and its receipts (the trace's runner spans). */
    run: RunNote | null;
    /** The request's trace while tracing is on; null when it is off. */
    trace: RequestTrace | null;
  }
}
