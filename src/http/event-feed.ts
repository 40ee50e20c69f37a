import type { BusEvent, EventBus } from '../events.js';

/** A module event with the two ids a stream may give it. */
export interface FeedEvent {
  event: BusEvent;
  /** Position among every tenant's module events: the id admin streams see. */
  seq: number;
  /** Position among its own tenant's module events: the id that tenant's streams see. */
  tenantSeq: number;
}

/** Whose events a stream follows: every tenant's (admin keys) or one tenant's. */
export type FeedScope = { all: true } | { all: false; tenant: string };

/** A bounded window of the latest events, oldest first. */
class Recent {
  readonly items: FeedEvent[] = [];
  constructor(private readonly limit: number) {}

  push(item: FeedEvent): void {
    this.items.push(item);
    if (this.items.length > this.limit) this.items.shift();
  }
}

/**
 * Module events numbered for event streams: once across all tenants and once within each tenant,
 * each with its own replay buffer. A tenant's stream ids then run without gaps however busy other
 * tenants are (a gap would tell it their activity), and Last-Event-ID replays from its own buffer,
 * which another tenant's burst cannot push its events out of.
 */
export class EventFeed {
  readonly #replayLimit: number;
  readonly #all: Recent;
  readonly #tenants = new Map<string, { seq: number; recent: Recent }>();
  readonly #listeners = new Set<(item: FeedEvent) => void>();
  #seq = 0;

  constructor(bus: EventBus, replayLimit: number) {
    this.#replayLimit = replayLimit;
    this.#all = new Recent(replayLimit);
    bus.subscribe('module.*', (event) => this.#add(event));
  }

  /** Calls `listener` with every module event from now on; returns the unsubscribe function. */
  subscribe(listener: (item: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The id a stream of `scope` gives `item`. */
  static idFor(scope: FeedScope, item: FeedEvent): number {
    return scope.all ? item.seq : item.tenantSeq;
  }

  /** The kept events of `scope` with an id above `after`, oldest first. */
  since(scope: FeedScope, after: number): FeedEvent[] {
    const recent = scope.all ? this.#all : this.#tenants.get(scope.tenant)?.recent;
    return (recent?.items ?? []).filter((item) => EventFeed.idFor(scope, item) > after);
  }

  #add(event: BusEvent): void {
    if (!('tenant' in event)) return;
    let tenant = this.#tenants.get(event.tenant);
    if (tenant === undefined) this.#tenants.set(event.tenant, (tenant = { seq: 0, recent: new Recent(this.#replayLimit) }));
    const item: FeedEvent = { event, seq: ++this.#seq, tenantSeq: ++tenant.seq };
    this.#all.push(item);
    tenant.recent.push(item);
    // A copy: a listener may unsubscribe (its stream closing) while the event goes out. One that
    // throws does not keep the event from the others; the bus logs the first failure.
    let failure: { err: unknown } | undefined;
    for (const listener of [...this.#listeners]) {
      try {
        listener(item);
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }
}
