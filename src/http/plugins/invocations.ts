import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GuestOutput } from '../../observability/guest-output.js';
import type { InvocationLog } from '../../observability/invocation-log.js';
import type { TenantSettingsTable } from '../../observability/tenant-settings.js';
import { traceIdOf } from '../../observability/trace-context.js';


/**
 * What follows every call of a module (a request a run route noted, request.run) once it is answered:
 * its guest's stderr lines go to the log, and the call to the invocation log (one small object and a
 * push; the record is made when the log is written).
 */
export function installCallRecords(app: FastifyInstance, log: InvocationLog, guest: GuestOutput, settings: TenantSettingsTable): void {
  // Callback-style, as every per-request hook (see request-id.ts).
  app.addHook('onResponse', (request, reply, done) => {
    const note = request.run;
    if (note !== null) {
      guest.takeStderr(note, request.id);
      if (log.enabled) {
        log.record(note.module, {
          at: Date.now(),
          requestId: request.id,
          traceId: requestTraceId(request),
          keyId: request.principal?.keyId ?? null,
          status: reply.statusCode,
          code: request.errorCode,
          note,
          capture: settings.get(note.tenant).capture_args,
        });
      }
    }
    done();
  });
}

/** The request's trace id: its span's while tracing is on, else the caller's traceparent's (recorded even when nothing exports). */
export function requestTraceId(request: FastifyRequest): string | null {
  if (request.trace) return request.trace.span.spanContext().traceId;
  const header = request.headers.traceparent;
  return traceIdOf(typeof header === 'string' ? header : undefined);
}
