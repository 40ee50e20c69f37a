import type { AuditEntry } from '../../auth/types.js';
import { decodeJson } from './codec.js';
import type { Db } from './db.js';
import { AUDIT_LOG_PREFIX, auditTenantPrefix, prefixRange } from './keys.js';
import type { AuditPage, AuditStore } from '../store.js';

/**
 * The audit log under `a!<id>`, and each tenant's copy under its own prefix; ids are time-ordered
 * and fixed width (auth/audit.ts), so key order is time order and a page reads backwards from a key.
 */
export class LevelAuditStore implements AuditStore {
  constructor(private readonly db: Db) {}

  async page(options: { limit: number; before?: string | undefined; tenant?: string | undefined }): Promise<AuditPage> {
    const prefix = options.tenant === undefined ? AUDIT_LOG_PREFIX : auditTenantPrefix(options.tenant);
    const range = prefixRange(prefix);
    const lt = options.before === undefined ? range.lt : prefix + options.before;
    const items: AuditEntry[] = [];
    let more = false;
    for await (const [, value] of this.db.entries({ gt: range.gt, lt, reverse: true, limit: options.limit + 1 })) {
      if (items.length === options.limit) {
        more = true;
        break;
      }
      items.push(decodeJson<AuditEntry>(value));
    }
    const last = items[items.length - 1];
    return { items, next_cursor: more && last ? last.id : null };
  }
}
