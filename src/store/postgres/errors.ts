import { hasErrorCode, wessError } from '../../errors.js';

/**
 * Errors that say PostgreSQL cannot be reached or is going away, as opposed to a refused statement:
 * the socket's (refused, reset, timed out), pg's own (a connection terminated, no connection in
 * time), and the server's SQLSTATEs for it (class 08 connection exceptions, 57P01-57P03 shutdown
 * and start-up, 53300 too many connections).
 */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true;
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection closed/i.test(message);
}

/** A blob deleted under a new version's foreign key by another node: the statement may simply be tried again. */
export function isRetryable(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '23503';
}

/** A deadlock or a serialisation failure: the transaction, not only the statement, must be run again. */
export function isConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** What a caller of the store is told: UNAVAILABLE (503, Retry-After) when the database is unreachable, else the error itself. */
export function storeError(err: unknown): unknown {
  if (hasErrorCode(err) || !isConnectionError(err)) return err;
  return wessError('UNAVAILABLE', `the database is unreachable (${(err as Error).message || String((err as { code?: unknown }).code)}); retry shortly`);
}
