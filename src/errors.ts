/**
 * Every error code Wess answers with, its HTTP status and what it means.
 * Code branches on `err.code`, never on message text or `instanceof`: errors that cross a
 * worker thread arrive as plain `{code, message}` objects.
 */
export const ERROR_CODES = {
  VALIDATION: { status: 400, description: 'The request body, query or path is malformed.' },
  INVALID_WASM: { status: 400, description: 'The module is not valid WebAssembly.' },
  INVALID_ARGUMENT: { status: 400, description: 'A call argument does not fit its parameter type.' },
  UNKNOWN_FUNCTION: { status: 400, description: 'The module exports no such function.' },
  FORBIDDEN_IMPORT: { status: 400, description: 'The module imports something Wess does not provide.' },
  MEMORY_LIMIT: { status: 400, description: 'The module asks for more memory than allowed, or a memory kind Wess refuses.' },
  CALLBACK_NOT_ALLOWED: { status: 400, description: "The job's callback_url is not an http(s) URL on a host jobs.callback_allow lists." },
  UNAUTHORIZED: { status: 401, description: 'No API key, or one that is unknown, malformed or revoked.' },
  FORBIDDEN: { status: 403, description: "The key's role or module scope does not allow this." },
  TIER_LIMIT: { status: 403, description: "The key's tier (or, for an admin acting in a tenant, that tenant's) does not allow this: more modules, or more bytes held (max_storage)." },
  MODULE_NOT_FOUND: { status: 404, description: "No such module (or it belongs to another tenant)." },
  KEY_NOT_FOUND: { status: 404, description: 'No such API key (or it belongs to another tenant).' },
  VERSION_NOT_FOUND: { status: 404, description: 'The module exists but has no such version.' },
  NOT_FOUND: { status: 404, description: 'No such route.' },
  ROUTE_NOT_FOUND: { status: 404, description: 'No such HTTP handler route (or it belongs to another tenant), or no route of the tenant matches a /h/ path.' },
  JOB_NOT_FOUND: { status: 404, description: 'No such job (or it belongs to another tenant).' },
  SCHEDULE_NOT_FOUND: { status: 404, description: 'No such schedule (or it belongs to another tenant).' },
  METHOD_NOT_ALLOWED: { status: 405, description: "The HTTP handler route does not take this method; see Allow." },
  EXECUTION_TIMEOUT: { status: 408, description: 'The call passed its deadline and the guest was stopped.' },
  VERSION_CONFLICT: { status: 409, description: 'If-Match names a version that is no longer the current one.' },
  ROUTE_CONFLICT: { status: 409, description: 'The tenant already has an HTTP handler route with this path.' },
  JOB_STATE: { status: 409, description: 'The job is not in a state that allows this: only a queued job can be cancelled, only a dead or failed one retried.' },
  BACKUP_KEY_REQUIRED: { status: 409, description: 'Backups are signed, and this server has no backup key (backup.key / WESS_BACKUP_KEY).' },
  BACKUP_UNSUPPORTED: { status: 409, description: 'This store cannot make a Wess backup archive (the PostgreSQL store): use pg_dump, or `wess export`.' },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The module or the request body is over its size limit.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The request body has a content type Wess does not read.' },
  WASM_TRAP: { status: 422, description: 'The guest trapped (unreachable, divide by zero, out of bounds, stack overflow).' },
  FUEL_EXHAUSTED: { status: 422, description: 'The run used all the fuel it was given; the guest was stopped.' },
  CONTENT_CORRUPT: { status: 500, description: 'Stored content no longer matches its sha256; the module must be uploaded again.' },
  RATE_LIMITED: { status: 429, description: 'Too many requests from this client; see Retry-After.' },
  QUOTA_EXCEEDED: { status: 429, description: "The key used its tier's runs for the day; see Retry-After (next midnight UTC)." },
  INTERNAL: { status: 500, description: 'A bug in Wess; the message is hidden and logged with the request id.' },
  BAD_GATEWAY: { status: 502, description: "An HTTP handler gave no valid CGI answer: no or malformed headers, a trap, a non-zero exit, or its module is gone." },
  GATEWAY_TIMEOUT: { status: 504, description: 'An HTTP handler did not answer within its deadline; the guest was stopped.' },
  UNAVAILABLE: { status: 503, description: 'Not ready, shutting down or overloaded; see Retry-After.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A failure with a stable code; the HTTP error handler maps the code to a status. */
export class WessError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'WessError';
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
    this.details = details;
  }
}

/** Builds a coded error; the one way code in Wess makes an error meant for a client. */
export function wessError(code: ErrorCode, message: string, details?: Record<string, unknown>): WessError {
  return new WessError(code, message, details);
}

/** True when `value` carries one of Wess's error codes (works on errors cloned across threads). */
export function hasErrorCode(value: unknown): value is { code: ErrorCode; message: string } {
  if (typeof value !== 'object' || value === null) return false;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** Statuses after which a client may retry, and how long to wait (seconds). */
export const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = { UNAVAILABLE: 1 };
