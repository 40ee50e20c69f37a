import type { FastifyRequest } from 'fastify';
import { wessError } from '../errors.js';
import type { AuditPage, AuditStore } from '../store/store.js';
import { AUDIT_ID_FORMAT, type AuditEntry } from './types.js';

let lastMs = 0;
let seq = 0;

/**
 * Time-ordered audit ids: milliseconds since the epoch, then a counter within the millisecond.
 * Fixed width, so the store's key order is time order and an id is its own page cursor.
 */
export function auditId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    seq = 0;
  } else {
    seq++;
  }
  return `${String(lastMs).padStart(15, '0')}-${String(seq).padStart(6, '0')}`;
}

/** What an audited request is about, set by its route before it acts. */
export interface AuditDraft {
  action: string;
  target: string | null;
  /** The tenant acted on (a module's or key's), when it differs from the actor's. */
  tenant?: string | null;
  details?: Record<string, unknown>;
}

/** A complete audit entry for `request` with the outcome `status`. */
export function auditEntry(request: FastifyRequest, draft: AuditDraft, status: number): AuditEntry {
  const principal = request.principal;
  const entry: AuditEntry = {
    id: auditId(),
    at: new Date().toISOString(),
    actor: principal?.keyId ?? null,
    tenant: draft.tenant !== undefined ? draft.tenant : (principal?.tenant ?? null),
    action: draft.action,
    target: draft.target,
    request_id: request.id,
    ip: request.ip,
    status,
    outcome: status < 400 ? 'success' : 'failure',
  };
  if (draft.details) entry.details = draft.details;
  return entry;
}

/** One page of the audit log, newest first: every tenant's, or one tenant's; the cursor is the last id seen. */
export async function listAudit(store: AuditStore, options: { limit: number; cursor?: string | undefined; tenant?: string | undefined }): Promise<AuditPage> {
  if (options.cursor !== undefined && !AUDIT_ID_FORMAT.test(options.cursor)) throw wessError('VALIDATION', 'cursor is not valid');
  return store.page({ limit: options.limit, before: options.cursor, tenant: options.tenant });
}
