import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { InvocationLog } from '../../observability/invocation-log.js';
import type { TenantSettingsTable } from '../../observability/tenant-settings.js';

/** A W3C traceparent: version, trace id, parent span id, flags. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
const NO_TRACE = '00000000000000000000000000000000';

/**
 * Hands every call of a module (a request a run route noted, request.run) to the invocation log once
 * it is answered: one small object and a push per call; the record is made when the log is written.
 */
export function installInvocationLog(app: FastifyInstance, log: InvocationLog, settings: TenantSettingsTable): void {
  // Callback-style, as every per-request hook (see request-id.ts).
  app.addHook('onResponse', (request, reply, done) => {
    const note = request.run;
    if (note !== null) {
      log.record(note.module, {
        at: Date.now(),
        requestId: request.id,
        traceId: traceIdOf(request),
        keyId: request.principal?.keyId ?? null,
        status: reply.statusCode,
        code: request.errorCode,
        note,
        capture: settings.get(note.tenant).capture_args,
      });
    }
    done();
  });
}

/** The request's trace id: its span's while tracing is on, else the caller's traceparent's (recorded even when nothing exports). */
export function traceIdOf(request: FastifyRequest): string | null {
  if (request.trace) return request.trace.span.spanContext().traceId;
  const header = request.headers.traceparent;
  if (typeof header !== 'string') return null;
  const id = TRACEPARENT.exec(header)?.[1];
  return id === undefined || id === NO_TRACE ? null : id;
}
