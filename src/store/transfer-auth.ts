import { scrypt } from 'node:crypto';
import { promisify } from 'node:util';
import { z } from 'zod';
import { AUDIT_ID_FORMAT, ROLES, TENANT_FORMAT, type AuditEntry, type KeyRecord } from '../auth/types.js';
import { describeIssues } from '../echo.js';
import { hasErrorCode, wessError } from '../errors.js';
import type { AuditStore } from './store.js';
import type { WriteMessage, WriteResult } from './types.js';

/*
 * The key and audit lines of a whole-deployment export (format version 2; transfer.ts has the rest):
 *
 *   {"key":KeyRecord}       every stored key, revoked ones included, exactly as stored (hash and all)
 *   {"audit":AuditEntry}    every audit entry, newest first, exactly as stored
 *
 * Key hashes are HMACs under the server secret (auth/secrets.ts), so a key moved to a deployment
 * with another secret could never match its presented key again. The secret itself never travels:
 * the header carries a check value of it, and an import refuses the key lines when its own secret's
 * check differs, naming the fix (the same auth.secret on both).
 */

const SECRET_CHECK_SALT = 'wess-export-secret-check';

/**
 * A 16-hex check value of the server secret, for telling two secrets apart without carrying either.
 * scrypt rather than a plain hash: a secret someone chose (auth.secret) may be guessable, and this
 * value travels in export files, so testing a guess against it should cost what a password hash costs.
 */
export async function secretCheck(secret: string): Promise<string> {
  const derived = await promisify(scrypt)(secret, SECRET_CHECK_SALT, 8);
  return (derived as Buffer).toString('hex');
}

/** Audit entries read per page while exporting. */
const AUDIT_PAGE = 1000;

/** The key lines: every key, as stored. */
export async function* keyLines(keys: readonly KeyRecord[]): AsyncGenerator<string> {
  for (const key of keys) yield `${JSON.stringify({ key })}\n`;
}

/**
 * The audit lines, newest first, page by page down from the newest entry there was when the first
 * page was read: entries written meanwhile have higher ids and are left out, none is read twice.
 */
export async function* auditLines(audit: AuditStore, onEntry?: () => void): AsyncGenerator<string> {
  let before: string | undefined;
  for (;;) {
    const page = await audit.page({ limit: AUDIT_PAGE, before });
    for (const entry of page.items) {
      onEntry?.();
      yield `${JSON.stringify({ audit: entry })}\n`;
    }
    if (page.next_cursor === null) return;
    before = page.next_cursor;
  }
}

const time = z.iso.datetime();
/** A key id as auth/secrets.ts KEY_FORMAT has it; also safe in store keys. */
const keyId = z.string().regex(/^[0-9a-z]{4,32}$/, 'must be a key id (4-32 of 0-9, a-z)');
const text = z.string().max(4096);

const keyRecord = z
  .object({
    id: keyId,
    name: text,
    role: z.enum(ROLES),
    tenant: z.string().regex(TENANT_FORMAT, 'must be a tenant name'),
    tier: text.nullable(),
    modules: z.array(text).nullable(),
    hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters'),
    created_at: time,
    created_by: keyId.nullable(),
    revoked_at: time.nullable(),
  })
  .strict();

const auditEntry = z
  .object({
    id: z.string().regex(AUDIT_ID_FORMAT, 'must be an audit id'),
    at: time,
    actor: text.nullable(),
    tenant: z.string().regex(TENANT_FORMAT, 'must be a tenant name').nullable(),
    action: text,
    target: text.nullable(),
    request_id: text,
    ip: text,
    status: z.number().int(),
    outcome: z.enum(['success', 'failure']),
    count: z.number().int().min(1).optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** The kind of a parsed line that is not a module: `{"key": …}` or `{"audit": …}`, nothing beside it. */
export function authLineKind(value: unknown): 'key' | 'audit' | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const names = Object.keys(value);
  if (names.length !== 1) return undefined;
  return names[0] === 'key' ? 'key' : names[0] === 'audit' ? 'audit' : undefined;
}

/**
 * The checked record. The value handed on is the parsed one, not zod's output: zod rebuilds objects
 * in its schema's key order, and the record must be stored (and exported again) byte for byte.
 */
function checked<T>(schema: z.ZodType, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return value as T;
  throw wessError('VALIDATION', describeIssues(parsed.error.issues, what, 'line').join('; '));
}

export interface AuthImportDeps {
  /** True when a key with this id exists here (it is skipped, never overwritten). */
  keyExists(id: string): boolean | Promise<boolean>;
  /** put-key with ifAbsent: the writer keeps a key that appeared meanwhile. */
  submitKey(msg: Extract<WriteMessage, { kind: 'put-key' }>): Promise<WriteResult['put-key']>;
  /** append-audit-batch: entries are keyed by id, so the same entry imported again is stored once. */
  submitAudit(msg: Extract<WriteMessage, { kind: 'append-audit-batch' }>): Promise<WriteResult['append-audit-batch']>;
  /** secretCheck() of this node's server secret; asked only when a key line comes (it costs a scrypt). */
  secretCheck(): Promise<string>;
}

export interface AuthImportCounts {
  keys: { imported: number; skipped: number };
  /** Entries written; one already here (same id, same entry) is written again unchanged, so a re-run counts it again. */
  audit: { imported: number };
}

type Fail = (failure: { line: number; id?: string; code: string; error: string }) => void;

/** Audit entries written per writer message: one durable batch each. */
const AUDIT_BATCH = 500;

/**
 * Imports the key and audit lines of an export as importLines meets them. A key whose id exists is
 * skipped (this node's own admin key, a re-run); the others are written one message each (the writer
 * groups concurrent ones). Audit entries go in batches of AUDIT_BATCH, ids kept: an entry imported
 * again lands on itself. A failure is reported against every line it cost, never thrown.
 */
export class AuthLineImporter {
  readonly counts: AuthImportCounts = { keys: { imported: 0, skipped: 0 }, audit: { imported: 0 } };
  #pending: Array<{ line: number; entry: AuditEntry }> = [];
  #ownCheck: Promise<string> | undefined;

  constructor(
    private readonly deps: AuthImportDeps,
    /** The export header's secret_check; undefined when it has none (format version 1). */
    private readonly exportedCheck: string | undefined,
    private readonly fail: Fail,
  ) {}

  /** A key line: written unless its id exists; refused when the export's secret is not this node's. */
  async key(line: number, value: unknown): Promise<void> {
    let id: string | undefined;
    try {
      const key = checked<KeyRecord>(keyRecord, (value as { key: unknown }).key, 'key');
      id = key.id;
      await this.#checkSecret();
      if (await this.deps.keyExists(key.id)) {
        this.counts.keys.skipped++;
        return;
      }
      await this.deps.submitKey({ kind: 'put-key', key, ifAbsent: true });
      this.counts.keys.imported++;
    } catch (err) {
      this.fail({ line, ...(id === undefined ? {} : { id }), ...described(err, 'the key could not be imported; see the server log') });
    }
  }

  /** An audit line: checked now, written with the next batch. Returns the batch to write once one is full. */
  audit(line: number, value: unknown): Promise<void> | undefined {
    try {
      const entry = checked<AuditEntry>(auditEntry, (value as { audit: unknown }).audit, 'audit');
      this.#pending.push({ line, entry });
    } catch (err) {
      this.fail({ line, ...described(err, 'the audit entry could not be imported') });
    }
    return this.#pending.length >= AUDIT_BATCH ? this.flush() : undefined;
  }

  /** Writes the audit entries checked so far. */
  async flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    try {
      await this.deps.submitAudit({ kind: 'append-audit-batch', entries: batch.map((b) => b.entry) });
      this.counts.audit.imported += batch.length;
    } catch (err) {
      const failure = described(err, 'the audit entries could not be imported; see the server log');
      for (const { line, entry } of batch) this.fail({ line, id: entry.id, ...failure });
    }
  }

  async #checkSecret(): Promise<void> {
    if (this.exportedCheck === undefined) {
      throw wessError('VALIDATION', 'a key line in an export without a secret_check in its header: keys are only imported from whole-deployment exports (format version 2)');
    }
    this.#ownCheck ??= this.deps.secretCheck();
    const own = await this.#ownCheck;
    if (this.exportedCheck !== own) {
      throw wessError(
        'VALIDATION',
        `the export's key hashes were made under another server secret (its check ${this.exportedCheck}, this server's ${own}), so no presented key would ever match them: ` +
          "run this server with the exporting deployment's auth.secret (WESS_AUTH_SECRET) and import again; nothing else in the export depends on it",
      );
    }
  }
}

/** The code and message a line failure reports: a coded error's own, else INTERNAL with `fallback`. */
function described(err: unknown, fallback: string): { code: string; error: string } {
  const code = hasErrorCode(err) ? err.code : 'INTERNAL';
  return { code, error: hasErrorCode(err) && code !== 'INTERNAL' ? err.message : fallback };
}
