import type { FastifyInstance, FastifyRequest } from 'fastify';
import { auditEntry, type AuditDraft } from '../../auth/audit.js';
import type { AuditEntry } from '../../auth/types.js';
import { auditedRoute } from '../auth.js';
import type { Services } from '../../services.js';

/**
 * Writes the audit entry a finished request still owes (see pendingAudit), and counts a 403 with
 * the auth failures (a 401 is counted where the auth hook refuses it).
 */
export function installAudit(app: FastifyInstance, services: Services): void {
  const { metrics } = services;
  const { writer } = services.store;
  // Callback-style, as every per-request hook (see request-id.ts).
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    if (status === 403) metrics.authFailures.inc({ reason: 'forbidden' });
    const entry = pendingAudit(request, status);
    if (entry) {
      writer.submit({ kind: 'append-audit', entry }).catch((err: unknown) => {
        metrics.auditWriteFailures.inc();
        request.log.error({ err, action: entry.action }, 'audit entry could not be written');
      });
    }
    done();
  });
}

/**
 * The audit entry a finished request still owes: its route's (unless written with the change), or a
 * 401/403's. A request refused for want of a valid key owes none: the DenialLog counts it.
 */
function pendingAudit(request: FastifyRequest, status: number): AuditEntry | undefined {
  if (request.audit) return request.auditWritten ? undefined : auditEntry(request, request.audit, status);
  if (request.authDenial) return undefined;
  if (status !== 401 && status !== 403) return undefined;
  const route = auditedRoute(request);
  return auditEntry(request, { action: 'auth.denied', target: `${request.method} ${route}`, details: { method: request.method } }, status);
}

/**
 * Makes a change that the audit log records. `change` gets the entry (with the success status) to
 * hand to the writer, so the change and its entry commit in one batch. If `change` fails instead
 * (a bad upload, a conflict), the response hook writes the entry with the failure status.
 */
export async function audited<T>(request: FastifyRequest, draft: AuditDraft, successStatus: number, change: (audit: AuditEntry) => Promise<T>): Promise<T> {
  request.audit = draft;
  const result = await change(auditEntry(request, draft, successStatus));
  request.auditWritten = true;
  return result;
}
