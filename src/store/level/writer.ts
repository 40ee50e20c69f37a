import { hasErrorCode, wessError } from '../../errors.js';
import type { EventBus } from '../../events.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { applyMessage, readsOf, type Applied } from './apply.js';
import type { Db } from './db.js';
import { moduleRange } from './keys.js';
import type { ModuleWriter } from '../store.js';
import { ensureSchema } from './migrate.js';
import { Overlay } from './overlay.js';
import type { ModuleContent, WriteMessage, WriteResult } from '../types.js';
import type { WriterStats } from '../types.js';

export interface WriterOptions {
  db: Db;
  bus: EventBus;
  /** Messages allowed to wait (not yet in a batch) before submit answers UNAVAILABLE. */
  queueLimit: number;
  metrics: Pick<Metrics, 'writerQueueDepth' | 'writerBatchSize' | 'writerCommitTime' | 'modules'>;
  logger: Logger;
  /** Versions a module keeps (limits.max_versions); a new version past it prunes the oldest. */
  maxVersions?: number;
}

/** limits.max_versions's default, for writers started without one. */
export const DEFAULT_MAX_VERSIONS = 100;

/** Content bytes one batch may carry before the rest waits for the next one. */
const MAX_BATCH_BYTES = 32 * 1024 * 1024;

/**
 * Bookkeeping about what happened, not changes a client waits on: audit entries written on their own
 * (denials, failed changes) and usage counters. They may fill at most half of the queue, so a flood
 * of them (a bogus-key storm, many 403s) can never make a tenant's upload or key change answer 503.
 */
const HOUSEKEEPING: ReadonlySet<WriteMessage['kind']> = new Set(['append-audit', 'append-audit-batch', 'put-usage']);
const HOUSEKEEPING_SHARE = 0.5;


interface Pending {
  msg: WriteMessage;
  resolve(result: unknown): void;
  reject(err: unknown): void;
}

/**
 * The only code that writes LevelDB. Messages queue up; everything queued is applied in order on
 * an overlay and written as ONE sync batch (group commit), so N concurrent writes cost one fsync.
 * Callers are answered only once their batch is durable, and after its events have gone out, so
 * caches are invalidated before any client sees the 2xx.
 */
export class Writer implements ModuleWriter {
  readonly #db: Db;
  readonly #options: WriterOptions;
  #queue: Pending[] = [];
  /** The running drain loop; undefined when idle. */
  #draining: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #moduleCount: number;
  /** Durable batches written since start. */
  #batches = 0;
  /** HOUSEKEEPING messages waiting in #queue. */
  #housekeeping = 0;
  /** The most HOUSEKEEPING messages allowed to wait; the rest of the queue is kept for changes. */
  readonly #housekeepingLimit: number;
  readonly #maxVersions: number;

  private constructor(options: WriterOptions, moduleCount: number) {
    this.#db = options.db;
    this.#options = options;
    this.#moduleCount = moduleCount;
    this.#housekeepingLimit = Math.max(1, Math.floor(options.queueLimit * HOUSEKEEPING_SHARE));
    this.#maxVersions = options.maxVersions ?? DEFAULT_MAX_VERSIONS;
    options.metrics.modules.set(moduleCount);
    options.metrics.writerQueueDepth.set(0);
  }

  /** Checks (on a new database writes, on an old one migrates) the schema, counts modules, and returns a writer. */
  static async start(options: WriterOptions): Promise<Writer> {
    await ensureSchema(options.db);
    return new Writer(options, await countModules(options.db));
  }

  /** Modules stored, as of the last durable batch. */
  get moduleCount(): number {
    return this.#moduleCount;
  }

  /** A snapshot for /health: queue state, batches committed, modules stored. */
  stats(): WriterStats {
    return {
      accepting: this.#closing === undefined,
      queued: this.#queue.length,
      queue_limit: this.#options.queueLimit,
      batches: this.#batches,
      modules: this.#moduleCount,
    };
  }

  /**
   * Queues `msg`; resolves with its result once the batch holding it is on disk. Refused with
   * UNAVAILABLE when the queue is full, or for housekeeping when housekeeping holds its share of it.
   */
  submit<K extends WriteMessage['kind']>(msg: Extract<WriteMessage, { kind: K }>): Promise<WriteResult[K]> {
    if (this.#closing) return Promise.reject(wessError('UNAVAILABLE', 'the writer is shutting down'));
    if (this.#queue.length >= this.#options.queueLimit) {
      return Promise.reject(wessError('UNAVAILABLE', 'write queue is full; retry shortly'));
    }
    const housekeeping = HOUSEKEEPING.has(msg.kind);
    if (housekeeping && this.#housekeeping >= this.#housekeepingLimit) {
      return Promise.reject(wessError('UNAVAILABLE', `write queue holds ${this.#housekeeping} audit and usage writes, its share for them; retry shortly`));
    }
    if (housekeeping) this.#housekeeping++;
    return new Promise<WriteResult[K]>((resolve, reject) => {
      // applyMessage answers each kind with that kind's WriteResult.
      this.#queue.push({ msg, resolve: resolve as (result: unknown) => void, reject });
      this.#options.metrics.writerQueueDepth.set(this.#queue.length);
      this.#draining ??= this.#drain();
    });
  }

  /** Stops accepting writes (UNAVAILABLE), commits what is queued, and resolves once it is durable. */
  close(): Promise<void> {
    this.#closing ??= Promise.resolve(this.#draining).then(() => undefined);
    return this.#closing;
  }

  async #drain(): Promise<void> {
    // One turn of the event loop lets writes arriving in the same I/O phase join the first batch;
    // later ones gather naturally while the previous batch is being fsynced.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const group = this.#queue.splice(0, groupSize(this.#queue));
      for (const { msg } of group) if (HOUSEKEEPING.has(msg.kind)) this.#housekeeping--;
      this.#options.metrics.writerQueueDepth.set(this.#queue.length);
      try {
        await this.#commit(group);
      } catch (err) {
        // A bug in commit must not wedge the loop; callers already answered ignore the reject.
        this.#options.logger.error({ err }, 'writer commit threw');
        for (const pending of group) pending.reject(wessError('INTERNAL', 'the write could not be completed'));
      }
    }
    // Cleared in the same synchronous step as the empty check, so the next submit starts a new loop.
    this.#draining = undefined;
  }

  /** Applies `group` in order, writes it as one durable batch, announces, then answers callers. */
  async #commit(group: Pending[]): Promise<void> {
    const overlay = new Overlay(this.#db);
    await overlay.prefetch(group.flatMap(({ msg }) => keysToRead(msg)));
    const applied: Array<{ pending: Pending; result: Applied }> = [];
    for (const pending of group) {
      const layer = overlay.child();
      try {
        const result = await applyMessage(pending.msg, layer, { now: new Date().toISOString(), maxVersions: this.#maxVersions });
        layer.mergeIntoParent();
        applied.push({ pending, result });
      } catch (err) {
        // Only this caller fails; the layer is dropped and the rest of the batch goes ahead.
        pending.reject(this.#clientError(err, pending.msg));
      }
    }
    if (applied.length === 0) return;
    if (!(await this.#write(overlay, applied.length))) {
      for (const { pending } of applied) pending.reject(wessError('INTERNAL', 'the write could not be made durable'));
      return;
    }
    this.#countModules(applied);
    for (const { result } of applied) this.#announce(result);
    for (const { pending, result } of applied) pending.resolve(result.result);
  }

  /** Writes the batch with sync: true; false (cause logged) when it failed. */
  async #write(overlay: Overlay, messages: number): Promise<boolean> {
    const { metrics, logger } = this.#options;
    const stop = metrics.writerCommitTime.startTimer();
    try {
      await this.#db.batch(overlay.ops(), { sync: true });
      this.#batches++;
      metrics.writerBatchSize.observe(messages);
      return true;
    } catch (err) {
      logger.error({ err, messages }, 'writer batch failed; every write in it is rejected');
      return false;
    } finally {
      stop();
    }
  }

  #countModules(applied: Array<{ result: Applied }>): void {
    for (const { result } of applied) this.#moduleCount += result.moduleDelta;
    this.#options.metrics.modules.set(this.#moduleCount);
  }

  /** Emits one event; a throwing listener is logged, never allowed to fail a write that is on disk. */
  #announce(result: Applied): void {
    try {
      result.announce(this.#options.bus);
    } catch (err) {
      this.#options.logger.error({ err }, 'event listener threw after a durable write');
    }
  }

  #clientError(err: unknown, msg: WriteMessage): unknown {
    if (hasErrorCode(err)) return err;
    this.#options.logger.error({ err, kind: msg.kind, id: 'id' in msg ? msg.id : undefined }, 'writer failed to apply a message');
    return wessError('INTERNAL', 'the write could not be applied');
  }
}

/**
 * How many queued messages go in the next batch: all of them, unless their content passes
 * MAX_BATCH_BYTES (one LevelDB batch of gigabytes would stall the memtable and the log); always at least one.
 */
function groupSize(queue: readonly Pending[]): number {
  let bytes = 0;
  for (const [i, { msg }] of queue.entries()) {
    bytes += contentBytes(msg);
    if (bytes > MAX_BATCH_BYTES && i > 0) return i;
  }
  return queue.length;
}

/** Content bytes a message carries (binaries and files images): an upload's, or every version of an imported module. */
function contentBytes(msg: WriteMessage): number {
  if (msg.kind === 'import-module') return msg.versions.reduce((sum, v) => sum + uploadBytes(v.content), 0);
  return 'content' in msg ? uploadBytes(msg.content) : 0;
}

function uploadBytes(content: ModuleContent): number {
  return content.content.byteLength + (content.files?.image.byteLength ?? 0);
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
