import type { KeyRecord } from './auth/types.js';
import type { RouteRecord, TenantSettings } from './store/types.js';

/** What the writer announces once a change is durable. Module events name the module's tenant. */
export interface ModuleEvents {
  'module.created': { id: string; tenant: string; sha256: string; version: number };
  /**
   * `rollback_from`: set when the update is a rollback; the old version whose content `version` restores.
   * `pruned_versions`: set when the new version pushed old ones past limits.max_versions; they are gone.
   */
  'module.updated': { id: string; tenant: string; sha256: string; version: number; previous_sha256: string; rollback_from?: number; pruned_versions?: number[] };
  'module.deleted': { id: string; tenant: string; sha256: string };
  /** A key was created or replaced; the record (hash included) is for the in-process keyring only. */
  'key.stored': { id: string; tenant: string; key: KeyRecord };
  'key.revoked': { id: string; tenant: string; key: KeyRecord };
  /** An HTTP handler route was created or replaced, or deleted: the route tables (src/http/route-table.ts) follow. */
  'route.stored': { id: string; tenant: string; route: RouteRecord };
  'route.deleted': { id: string; tenant: string; route: RouteRecord };
  /** A job changed state (store/jobs.ts): one topic per status it reached. */
  'job.queued': JobEvent;
  'job.running': JobEvent;
  'job.succeeded': JobEvent;
  'job.failed': JobEvent;
  'job.dead': JobEvent;
  'job.cancelled': JobEvent;
  /** A tenant changed its settings: every node's settings table (src/observability/tenant-settings.ts) follows. */
  'tenant.settings': { id: string; tenant: string; settings: TenantSettings };
}

/** What a job event says: which job, whose, and where it stands. */
export interface JobEvent {
  id: string;
  tenant: string;
  module: string;
  status: string;
  attempts: number;
}

export type EventTopic = keyof ModuleEvents;

/**
 * Where a shared store numbered an event: its place among every node's events and, for a module
 * event, among its tenant's (the ids event streams give it on every node). Absent on one node's store.
 */
export interface EventOrigin {
  seq: number;
  tenantSeq?: number;
}

/** An event as wildcard listeners (and SSE clients) see it: its topic, a sequence number and a time. */
export type BusEvent = {
  [T in EventTopic]: { topic: T; seq: number; at: string; origin?: EventOrigin } & ModuleEvents[T];
}[EventTopic];

/** A topic, every topic under a prefix (`module.*`), or everything (`*`). */
export type EventPattern = EventTopic | `${string}.*` | '*';

function matches(pattern: EventPattern, topic: EventTopic): boolean {
  if (pattern === '*' || pattern === topic) return true;
  return pattern.endsWith('.*') && topic.startsWith(pattern.slice(0, -1));
}

/**
 * A typed in-process event bus. Listeners run synchronously in subscription order; one that throws
 * does not stop the others (the error goes to `onListenerError`). Every event gets a sequence
 * number so that stream clients can resume after a reconnect.
 */
export class EventBus {
  readonly #listeners: { pattern: EventPattern; listener: (event: BusEvent) => void }[] = [];
  #seq = 0;

  constructor(private readonly onListenerError: (err: unknown, event: BusEvent) => void = () => {}) {}

  /** Subscribes to one topic; returns the unsubscribe function. */
  on<T extends EventTopic>(topic: T, listener: (event: ModuleEvents[T] & { seq: number; at: string }) => void): () => void {
    return this.subscribe(topic, listener as unknown as (event: BusEvent) => void);
  }

  /** Subscribes to a pattern (`module.*`, `*`, or a topic); the listener sees the topic too. */
  subscribe(pattern: EventPattern, listener: (event: BusEvent) => void): () => void {
    const entry = { pattern, listener };
    this.#listeners.push(entry);
    return () => {
      const at = this.#listeners.indexOf(entry);
      if (at !== -1) this.#listeners.splice(at, 1);
    };
  }

  /** Publishes an event to every matching listener; returns it as listeners saw it. */
  emit<T extends EventTopic>(topic: T, payload: ModuleEvents[T], origin?: EventOrigin, at?: string): BusEvent {
    const event = { ...payload, topic, seq: ++this.#seq, at: at ?? new Date().toISOString() } as BusEvent;
    if (origin !== undefined) event.origin = origin;
    for (const { pattern, listener } of [...this.#listeners]) {
      if (!matches(pattern, topic)) continue;
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
    return event;
  }

  /** Listeners currently subscribed (for health detail and tests). */
  get listenerCount(): number {
    return this.#listeners.length;
  }
}
