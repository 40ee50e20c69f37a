import type { BusEvent, EventBus } from '../events.js';

/** A module event with the two ids a stream may give it. */
export interface FeedEvent {
  event: BusEvent;
  /** Position among every tenant's module events: the id admin streams see. */
  seq: number;
  /** Position among its own tenant's module events: the id that tenant's streams see. */
  tenantSeq: number;
  /** Its SSE frame after the `id:` line, the same for every stream: serialised once, not per client. */
  body: string;
}

/** Whose events a stream follows: every tenant's (admin keys) or one tenant's. */
export type FeedScope = { all: true } | { all: false; tenant: string };

/** A bounded window of the latest events, oldest first. */
class Recent {
  readonly items: FeedEvent[] = [];
  constructor(private readonly limit: number) {}

  /**
   * Kept in id order: with a shared store, another node's event can arrive after this node's own
   * later-numbered one (its notification is a round trip behind), and replay filters by id.
   */
  push(item: FeedEvent): void {
    let at = this.items.length;
    while (at > 0 && (this.items[at - 1] as FeedEvent).seq > item.seq) at--;
    this.items.splice(at, 0, item);
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
  readonly #numbered = new WeakMap<BusEvent, FeedEvent>();
  #seq = 0;

  /**
   * Subscribes to `bus` now, before any stream does: the bus calls listeners in subscription order,
   * so a stream's listener always finds the event numbered (numbered()).
   */
  constructor(bus: EventBus, replayLimit: number) {
    this.#replayLimit = replayLimit;
    this.#all = new Recent(replayLimit);
    bus.subscribe('module.*', (event) => this.#add(event));
    bus.subscribe('job.*', (event) => this.#add(event));
  }

  /**
   * Events announced before this node started (a shared store's log), oldest first: the replay
   * window starts with them. One the feed holds already (delivered live meanwhile) is not added twice.
   */
  seed(events: readonly BusEvent[]): void {
    const held = new Set(this.#all.items.map((item) => item.seq));
    for (const event of events) if (event.origin !== undefined && !held.has(event.origin.seq)) this.#add(event);
  }

  /** The numbered form of a module event the bus delivered; undefined for one without a tenant. */
  numbered(event: BusEvent): FeedEvent | undefined {
    return this.#numbered.get(event);
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
    // A shared store numbered the event for every node; otherwise this node numbers its own.
    const seq = event.origin?.seq ?? this.#seq + 1;
    const tenantSeq = event.origin?.tenantSeq ?? tenant.seq + 1;
    this.#seq = Math.max(this.#seq, seq);
    tenant.seq = Math.max(tenant.seq, tenantSeq);
    const item: FeedEvent = { event, seq, tenantSeq, body: frameBody(event) };
    this.#all.push(item);
    tenant.recent.push(item);
    this.#numbered.set(event, item);
  }
}

/**
 * An event's SSE `event:` and `data:` lines (the `id:` line before them depends on the stream). A
 * module event's id is its module's (`module_id`); a job event's is the job's (`id`), beside `module`.
 */
function frameBody(event: BusEvent): string {
  const { topic, seq: _busSeq, origin: _origin, at, id, ...rest } = event;
  const named = topic.startsWith('job.') ? { id } : { module_id: id };
  return `event: ${topic}\ndata: ${JSON.stringify({ type: topic, ...named, at, ...rest })}\n\n`;
}
