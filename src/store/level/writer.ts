import type { EventBus } from '../../events.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { applyMessage, readsOf } from './apply.js';
import type { Db } from './db.js';
import { moduleRange } from './keys.js';
import { GroupWriter, type Committer, type Outcome, type WriteObserver } from '../group-writer.js';
import { ensureSchema } from './migrate.js';
import { Overlay } from './overlay.js';
import type { WriteMessage } from '../types.js';

export interface WriterOptions {
  db: Db;
  bus: EventBus;
  /** Messages allowed to wait (not yet in a batch) before submit answers UNAVAILABLE. */
  queueLimit: number;
  metrics: Pick<Metrics, 'writerQueueDepth' | 'writerBatchSize' | 'writerCommitTime' | 'modules'>;
  logger: Logger;
  /** Versions a module keeps (limits.max_versions); a new version past it prunes the oldest. */
  maxVersions?: number;
  observe?: WriteObserver | undefined;
}

/** limits.max_versions's default, for writers started without one. */
export const DEFAULT_MAX_VERSIONS = 100;

/**
 * The only code that writes LevelDB: the group writer's queue (group-writer.ts) over this committer,
 * which applies a group in order on an overlay and writes it as ONE sync batch.
 */
export const Writer = {
  /** Checks (on a new database writes, on an old one migrates) the schema, counts modules, and returns a writer. */
  async start(options: WriterOptions): Promise<GroupWriter> {
    await ensureSchema(options.db);
    const committer = new LevelCommitter(options.db, options.maxVersions ?? DEFAULT_MAX_VERSIONS);
    return new GroupWriter({ ...options, committer, moduleCount: await countModules(options.db) });
  },
};

class LevelCommitter implements Committer {
  constructor(
    private readonly db: Db,
    private readonly maxVersions: number,
  ) {}

  /** Applies the group on an overlay, each message on a child layer dropped if it throws, then one sync batch. */
  async commit(messages: readonly WriteMessage[]): Promise<Outcome[]> {
    const overlay = new Overlay(this.db);
    await overlay.prefetch(messages.flatMap(keysToRead));
    const now = new Date().toISOString();
    const outcomes: Outcome[] = [];
    for (const msg of messages) {
      const layer = overlay.child();
      try {
        const applied = await applyMessage(msg, layer, { now, maxVersions: this.maxVersions });
        layer.mergeIntoParent();
        outcomes.push({ applied });
      } catch (err) {
        // Only this caller fails; the layer is dropped and the rest of the batch goes ahead.
        outcomes.push({ refused: err });
      }
    }
    // A failed batch throws: the group writer rejects every message of it and logs the cause.
    // A group that changed nothing (a look for due jobs that found none) costs no sync write.
    const ops = overlay.ops();
    if (ops.length > 0 && outcomes.some((o) => 'applied' in o)) await this.db.batch(ops, { sync: true });
    return outcomes;
  }
}

/** readsOf, except that a malformed message reads nothing ahead: it fails in applyMessage, for its own caller only. */
function keysToRead(msg: WriteMessage): string[] {
  try {
    return readsOf(msg);
  } catch {
    return [];
  }
}

/** Counts module records by key, without reading them. */
async function countModules(db: Db): Promise<number> {
  let count = 0;
  for await (const _key of db.keys(moduleRange())) count++;
  return count;
}
