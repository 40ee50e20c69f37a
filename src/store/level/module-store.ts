import type { Readable } from 'node:stream';
import { backupStream } from './backup.js';
import { inspectBlob } from './blobs.js';
import type { Db } from './db.js';
import { prefixRange, tenantModulePrefix } from './keys.js';
import type { ModuleStore } from '../store.js';
import { exportLines } from './export.js';
import { verifyStore } from './verify.js';
import type { BackupKey } from '../backup-key.js';
import type { Inspected, VerifyReport } from '../types.js';

/** Counting, export, backup and verification over the LevelDB key layout (keys.ts). */
export class LevelModuleStore implements ModuleStore {
  constructor(private readonly db: Db) {}

  inspectBlob(sha256: string): Promise<Inspected> {
    return inspectBlob(this.db, sha256);
  }

  /** Walks the tenant's `t!<tenant>!` index: there is no stored per-tenant module count. */
  async countTenantModules(tenant: string): Promise<number> {
    let count = 0;
    for await (const _key of this.db.keys(prefixRange(tenantModulePrefix(tenant)))) count++;
    return count;
  }

  exportLines(options: { tenant?: string | undefined; modulesEstimate: number }, onModule?: (count: number) => void): AsyncIterable<string> {
    return exportLines(this.db, options, onModule);
  }

  backup(key: BackupKey): Readable {
    return backupStream(this.db, key);
  }

  verify(): Promise<VerifyReport> {
    return verifyStore(this.db);
  }
}
