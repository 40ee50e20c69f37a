import { hasErrorCode, wessError } from '../errors.js';
import type { EventBus, EventOrigin, EventTopic, ModuleEvents } from '../events.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ModuleWriter } from './store.js';
import type { ModuleContent, WriteMessage, WriteResult, WriterStats } from './types.js';

/** An event a write announces once it is durable: its topic and payload, and its numbers in a shared store. */
export type Announcement = { [T in EventTopic]: { topic: T; payload: ModuleEvents[T]; origin?: EventOrigin; at?: string } }[EventTopic];

/** What one message did: the result to answer with, and what to announce once it is durable. */
export interface Applied {
  /** The WriteResult of the message's kind. */
  result: unknown;
  /** +1 for a create, -1 for a delete, 0 otherwise: keeps the modules gauge exact. */
  moduleDelta: number;
  events: Announcement[];
}

/** A message's fate in a group: applied (and, once commit resolves, durable), or refused for its caller alone. */
export type Outcome = { applied: Applied } | { refused: unknown };

/**
 * An engine's half of the writer: applies a group of messages in order and makes the applied ones
 * durable together (one LevelDB batch, one PostgreSQL transaction). A message that fails is refused
 * alone and the rest go ahead. Throwing means nothing in the group was made durable.
 */
export interface Committer {
  commit(messages: readonly WriteMessage[]): Promise<Outcome[]>;
}

export interface GroupWriterOptions {
  committer: Committer;
  bus: EventBus;
  /** Messages allowed to wait (not yet in a group) before submit answers UNAVAILABLE. */
  queueLimit: number;
  metrics: Pick<Metrics, 'writerQueueDepth' | 'writerBatchSize' | 'writerCommitTime' | 'modules'>;
  logger: Logger;
  /** Modules stored when the writer starts. */
  moduleCount: number;
  /** Told of every submitted message (tracing): what it returns is called once the message is durable or refused. */
  observe?: WriteObserver | undefined;
}

/** Watches writes from submit to durable (or refused) without knowing what the store does with them. */
export type WriteObserver = (kind: WriteMessage['kind']) => ((failure?: unknown) => void) | undefined;

/** Content bytes one group may carry before the rest waits for the next one. */
const MAX_GROUP_BYTES = 32 * 1024 * 1024;

/**
 * Bookkeeping about what happened, not changes a client waits on: audit entries written on their own
 * (denials, failed changes) and usage counters. They may fill at most half of the queue, so a flood
 * of them (a bogus-key storm, many 403s) can never make a tenant's upload or key change answer 503.
 */
const HOUSEKEEPING: ReadonlySet<WriteMessage['kind']> = new Set(['append-audit', 'append-audit-batch', 'put-usage', 'append-invocations']);
const HOUSEKEEPING_SHARE = 0.5;

interface Pending {
  msg: WriteMessage;
  resolve(result: unknown): void;
  reject(err: unknown): void;
}

/**
 * The writer of every store: messages queue up, everything queued is handed to the engine's
 * committer as one group (group commit), so N concurrent writes cost one fsync or one transaction.
 * Callers are answered only once their group is durable, and after its events have gone out, so
 * caches are invalidated before any client sees the 2xx.
 */
export class GroupWriter implements ModuleWriter {
  readonly #options: GroupWriterOptions;
  #queue: Pending[] = [];
  /** The running drain loop; undefined when idle. */
  #draining: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #moduleCount: number;
  /** Durable groups written since start. */
  #batches = 0;
  /** HOUSEKEEPING messages waiting in #queue. */
  #housekeeping = 0;
  /** The most HOUSEKEEPING messages allowed to wait; the rest of the queue is kept for changes. */
  readonly #housekeepingLimit: number;

  constructor(options: GroupWriterOptions) {
    this.#options = options;
    this.#moduleCount = options.moduleCount;
    this.#housekeepingLimit = Math.max(1, Math.floor(options.queueLimit * HOUSEKEEPING_SHARE));
    options.metrics.modules.set(options.moduleCount);
    options.metrics.writerQueueDepth.set(0);
  }

  /** Modules stored, as of the last durable group (and, on a shared store, the last recount). */
  get moduleCount(): number {
    return this.#moduleCount;
  }

  /** Sets the count from the store itself: other nodes change it too. */
  recount(modules: number): void {
    this.#moduleCount = modules;
    this.#options.metrics.modules.set(modules);
  }

  /** A snapshot for /health: queue state, groups committed, modules stored. */
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
   * Queues `msg`; resolves with its result once the group holding it is durable. Refused with
   * UNAVAILABLE when the queue is full, or for housekeeping when housekeeping holds its share of it.
   */
  submit<K extends WriteMessage['kind']>(msg: Extract<WriteMessage, { kind: K }>): Promise<WriteResult[K]> {
    const settled = this.#options.observe?.(msg.kind);
    const answer = this.#enqueue(msg);
    if (settled !== undefined) answer.then(() => settled(), settled);
    return answer;
  }

  #enqueue<K extends WriteMessage['kind']>(msg: Extract<WriteMessage, { kind: K }>): Promise<WriteResult[K]> {
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
      // The committer answers each kind with that kind's WriteResult.
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
    // One turn of the event loop lets writes arriving in the same I/O phase join the first group;
    // later ones gather naturally while the previous group is being made durable.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const group = this.#queue.splice(0, groupSize(this.#queue));
      for (const { msg } of group) if (HOUSEKEEPING.has(msg.kind)) this.#housekeeping--;
      this.#options.metrics.writerQueueDepth.set(this.#queue.length);
      await this.#commit(group);
    }
    // Cleared in the same synchronous step as the empty check, so the next submit starts a new loop.
    this.#draining = undefined;
  }

  /** Hands `group` to the committer, then counts, announces and answers callers. */
  async #commit(group: Pending[]): Promise<void> {
    const { metrics, logger, committer } = this.#options;
    const stop = metrics.writerCommitTime.startTimer();
    let outcomes: Outcome[];
    try {
      outcomes = await committer.commit(group.map((p) => p.msg));
    } catch (err) {
      // Nothing of the group is durable; the loop goes on with the next one.
      const refusal = hasErrorCode(err) ? err : wessError('INTERNAL', 'the write could not be made durable');
      if (!hasErrorCode(err)) logger.error({ err, messages: group.length }, 'writer commit failed; every write in it is rejected');
      for (const pending of group) pending.reject(refusal);
      return;
    } finally {
      stop();
    }
    const applied: Array<{ pending: Pending; applied: Applied }> = [];
    for (const [i, pending] of group.entries()) {
      const outcome = outcomes[i];
      if (outcome === undefined) pending.reject(wessError('INTERNAL', 'the write could not be completed'));
      else if ('refused' in outcome) pending.reject(this.#clientError(outcome.refused, pending.msg));
      else applied.push({ pending, applied: outcome.applied });
    }
    if (applied.length === 0) return;
    this.#batches++;
    metrics.writerBatchSize.observe(applied.length);
    for (const { applied: a } of applied) this.#moduleCount += a.moduleDelta;
    metrics.modules.set(this.#moduleCount);
    for (const { applied: a } of applied) this.#announce(a);
    for (const { pending, applied: a } of applied) pending.resolve(a.result);
  }

  /** Emits the events; a throwing listener is logged, never allowed to fail a write that is durable. */
  #announce(applied: Applied): void {
    for (const { topic, payload, origin, at } of applied.events) {
      try {
        this.#options.bus.emit(topic, payload as never, origin, at);
      } catch (err) {
        this.#options.logger.error({ err }, 'event listener threw after a durable write');
      }
    }
  }

  #clientError(err: unknown, msg: WriteMessage): unknown {
    if (hasErrorCode(err)) return err;
    this.#options.logger.error({ err, kind: msg.kind, id: 'id' in msg ? msg.id : undefined }, 'writer failed to apply a message');
    return wessError('INTERNAL', 'the write could not be applied');
  }
}

/**
 * How many queued messages go in the next group: all of them, unless their content passes
 * MAX_GROUP_BYTES (one batch or transaction of gigabytes would stall the engine); always at least one.
 */
function groupSize(queue: readonly Pending[]): number {
  let bytes = 0;
  for (const [i, { msg }] of queue.entries()) {
    bytes += contentBytes(msg);
    if (bytes > MAX_GROUP_BYTES && i > 0) return i;
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
